// Package scenario sets the stage for Baton's benchmark scenario programs
// (benchmarks/crosscheck, benchmarks/hops): one local tritonserver, the
// real `baton serve` binary built from this tree in front of it, and the
// facts a result file must record (machine, versions, commands).
//
// It owns process lifecycle for scenarios only; measuring is package
// harness's job, and tests start their servers themselves.
package scenario

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/batonhq/baton/tritonclient/localfleet"
)

// Options says what to start.
type Options struct {
	// Models are loaded on the tritonserver at start-up.
	Models []string
	// PipelinesDir holds the specs `baton serve` serves read-only; empty
	// means none (pipelines come through the admin API).
	PipelinesDir string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Instances is how many tritonservers to start (default 1).
	Instances int
	// GPUInstances are the indexes of instances the fleet file declares as
	// gpu (device index in order); with SimulateGPUs, `baton serve` loads
	// their models with KIND_CPU.
	GPUInstances []int
	// Agent is the telemetry agent address every instance names (node
	// "sim"); empty for none.
	Agent string
	// ServeArgs are appended to `baton serve`'s command line.
	ServeArgs []string
}

// Env is a running tritonserver with `baton serve` in front of it.
type Env struct {
	// Root is the repository root (where go.mod is).
	Root string
	// Triton is the first tritonserver; Tritons all of them.
	Triton  *localfleet.Instance
	Tritons []*localfleet.Instance
	// BatonBin is the built baton binary.
	BatonBin string
	// BatonHTTP and BatonGRPC are Baton's listen addresses (host:port).
	BatonHTTP, BatonGRPC string
	// BatonCommit is `git describe --always --dirty` of the tree built.
	BatonCommit string

	fleet *localfleet.Fleet
	dir   string
	serve *exec.Cmd
}

// Start builds baton, starts the tritonserver and `baton serve`, and waits
// until Baton is ready. Stop undoes all of it.
func Start(ctx context.Context, o Options) (_ *Env, err error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "baton-scenario-"); err != nil {
		return nil, err
	}
	e.BatonBin = filepath.Join(e.dir, "baton")
	logger.Info("building baton")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.BatonBin, "./cmd/baton")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build baton: %w\n%s", err, out)
	}
	e.BatonCommit = gitDescribe(root)

	logger.Info("starting tritonserver", "models", o.Models)
	e.fleet, err = localfleet.Start(ctx, localfleet.Options{ModelRepository: filepath.Join(root, "model_repository"), Instances: max(o.Instances, 1), LoadModels: o.Models})
	if err != nil {
		return nil, err
	}
	e.Triton, e.Tritons = e.fleet.Instances[0], e.fleet.Instances

	fleetFile := filepath.Join(e.dir, "fleet.yaml")
	doc := "instances:\n"
	gpu := 0
	for i, in := range e.Tritons {
		kind := "cpu"
		if slices.Contains(o.GPUInstances, i) {
			kind = fmt.Sprintf("gpu, gpu: %d", gpu)
			gpu++
		}
		agent := ""
		if o.Agent != "" {
			agent = fmt.Sprintf(", node: sim, agent: %q", o.Agent)
		}
		doc += fmt.Sprintf("  - {name: %s, grpc: %q, http: %q, metrics: %q, kind: %s%s}\n", in.Name, in.GRPCAddr, in.HTTPAddr, in.MetricsAddr, kind, agent)
	}
	if err := os.WriteFile(fleetFile, []byte(doc), 0o644); err != nil {
		return nil, err
	}
	pipelines := o.PipelinesDir
	if pipelines == "" {
		pipelines = filepath.Join(e.dir, "no-pipelines")
		if err := os.Mkdir(pipelines, 0o755); err != nil {
			return nil, err
		}
	}
	if e.BatonHTTP, err = freeAddr(); err != nil {
		return nil, err
	}
	if e.BatonGRPC, err = freeAddr(); err != nil {
		return nil, err
	}
	logger.Info("starting baton serve", "http", e.BatonHTTP, "grpc", e.BatonGRPC)
	args := []string{"serve", "--fleet", fleetFile, "--http", e.BatonHTTP, "--grpc", e.BatonGRPC,
		"--data-dir", filepath.Join(e.dir, "data"), "--pipelines", pipelines, "--log-level", "warn"}
	e.serve = exec.Command(e.BatonBin, append(args, o.ServeArgs...)...)
	e.serve.Dir = root // its relative defaults (model_repository, deploy/local/groups) are the repository's
	e.serve.Stdout, e.serve.Stderr = io.Discard, os.Stderr
	if err := e.serve.Start(); err != nil {
		return nil, err
	}
	return e, e.waitReady(ctx, 60*time.Second)
}

func (e *Env) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.BatonHTTP+"/v2/health/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("baton serve not ready at %s after %s", e.BatonHTTP, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends `baton serve` (SIGINT, then its drain) and the tritonserver,
// and removes the scratch directory. It is safe to call twice.
func (e *Env) Stop() {
	if e.serve != nil && e.serve.Process != nil {
		_ = e.serve.Process.Signal(os.Interrupt)
		_ = e.serve.Wait()
		e.serve = nil
	}
	if e.fleet != nil {
		_ = e.fleet.Stop(context.Background())
		e.fleet = nil
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
		e.dir = ""
	}
}

// RepoRoot finds the directory holding go.mod, walking up from the working
// directory.
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
			return "", errors.New("no go.mod above the working directory: run scenarios from the repository")
		}
		dir = parent
	}
}

func gitDescribe(root string) string {
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

var paVersion = regexp.MustCompile(`perf_analyzer (\d+\.\d+\.\d+)`)

// PerfAnalyzer returns the path of the perf_analyzer that
// deploy/local/install.sh installs ($BATON_HOME/bin, default ~/.cache/baton/bin)
// and its version as its install wrapper records it.
func PerfAnalyzer() (path, version string, err error) {
	home := os.Getenv("BATON_HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", "", err
		}
		home = filepath.Join(h, ".cache", "baton")
	}
	path = filepath.Join(home, "bin", "perf_analyzer")
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("perf_analyzer not installed (run deploy/local/install.sh): %w", err)
	}
	defer f.Close()
	version = "unknown"
	sc := bufio.NewScanner(f)
	for i := 0; i < 5 && sc.Scan(); i++ { // "# Generated by ...: perf_analyzer 2.60.0"
		if m := paVersion.FindStringSubmatch(sc.Text()); m != nil {
			version = m[1]
			break
		}
	}
	return path, version, nil
}

// LoadAverage is /proc/loadavg's first three fields, to show how busy the
// host was.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
