// Package fleettest gives an integration-test package its own real Triton
// fleet: TestMain starts it, runs the tests and always stops it, and a
// missing or broken Triton fails the package loudly instead of skipping.
package fleettest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/batonhq/baton/tritonclient/localfleet"
)

// Main starts a fleet with opts (ModelRepository defaults to the repository's
// model_repository/), stores it in *fleet, runs m and stops the fleet, also
// on SIGINT/SIGTERM. It returns the exit code for os.Exit.
func Main(m *testing.M, opts localfleet.Options, fleet **localfleet.Fleet) int {
	if opts.ModelRepository == "" {
		root, err := RepoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleettest:", err)
			return 1
		}
		opts.ModelRepository = filepath.Join(root, "model_repository")
	}
	if opts.Logger == nil && testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	start := time.Now()
	f, err := localfleet.Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleettest: FAIL: cannot start a real Triton fleet: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "fleettest: %d tritonserver %s instance(s) ready in %s\n", len(f.Instances), f.Instances[0].Version, time.Since(start).Round(time.Millisecond))
	*fleet = f

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "fleettest: %v: stopping the fleet\n", s)
			_ = f.Stop(context.Background())
			os.Exit(2)
		case <-stopped:
		}
	}()

	code := m.Run()
	close(stopped)
	signal.Stop(sig)
	if err := f.Stop(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "fleettest: stopping the fleet: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if left, _ := localfleet.ShmRegions(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "fleettest: shared-memory regions left behind: %v\n", left)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// RepoRoot finds the directory holding go.mod, walking up from the working
// directory (a test's working directory is its package directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
