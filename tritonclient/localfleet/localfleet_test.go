package localfleet

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func repoModels(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "model_repository"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestFleetLifecycle runs two real servers, kills one as a crash would and
// stops the rest, checking that no process or shared-memory region survives.
func TestFleetLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	f, err := Start(ctx, Options{ModelRepository: repoModels(t), Instances: 2, LoadModels: []string{"identity_fp32"}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop(context.Background())

	seen := map[string]bool{}
	for _, in := range f.Instances {
		for _, a := range []string{in.HTTPAddr, in.GRPCAddr, in.MetricsAddr} {
			if seen[a] || !strings.HasPrefix(a, "127.0.0.1:") {
				t.Errorf("address %s reused or not on loopback", a)
			}
			seen[a] = true
		}
		if in.Version == "" || !in.Running() {
			t.Errorf("%s: version %q, running %v", in.Name, in.Version, in.Running())
		}
	}
	regions, err := ShmRegions()
	if err != nil || len(regions) < 2 {
		t.Fatalf("shared-memory regions = %v, %v; want one per loaded model instance", regions, err)
	}

	victim := f.Instances[0]
	pid := victim.PID()
	if err := victim.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if victim.Running() || alive(pid) {
		t.Fatalf("killed server %d still running", pid)
	}
	left, _ := filepath.Glob("/dev/shm/" + victim.ShmPrefix + "*")
	if len(left) != 0 {
		t.Fatalf("killed server left %v", left)
	}
	if !f.Instances[1].Running() {
		t.Fatal("killing one server took the other down")
	}

	pids := []int{pid, f.Instances[1].PID()}
	if err := f.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, p := range pids {
		if alive(p) {
			t.Errorf("pid %d alive after Stop", p)
		}
	}
	// The Python stubs were children in each server's process group.
	for _, p := range pids {
		if syscall.Kill(-p, 0) == nil {
			t.Errorf("process group %d alive after Stop", p)
		}
	}
	if left, _ := ShmRegions(); len(left) != 0 {
		t.Errorf("regions left after Stop: %v", left)
	}
	if _, err := os.Stat(f.LogDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary log dir %s kept after a clean stop", f.LogDir())
	}
}

// TestStartFailureIsLoudAndClean: a model that cannot load keeps its server
// from becoming ready; Start says why and leaves nothing running.
func TestStartFailureIsLoudAndClean(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := Start(ctx, Options{ModelRepository: repoModels(t), LoadModels: []string{"broken_model"}, LogDir: t.TempDir(), StartAttempts: 1})
	if !errors.Is(err, ErrStartFailed) || !strings.Contains(err.Error(), "broken_model") {
		t.Fatalf("err = %v, want ErrStartFailed quoting the server log about broken_model", err)
	}
	if left, _ := ShmRegions(); len(left) != 0 {
		t.Errorf("regions left after failed start: %v", left)
	}
}

func TestStartWithoutTriton(t *testing.T) {
	_, err := Start(t.Context(), Options{TritonHome: t.TempDir(), ModelRepository: repoModels(t)})
	if !errors.Is(err, ErrTritonNotInstalled) {
		t.Fatalf("err = %v, want ErrTritonNotInstalled", err)
	}
}

// TestStaleRegionsOfDeadProcessesAreRemoved: a region named for a process
// that no longer exists (a killed test binary) is swept at the next start;
// one of a live process is kept.
func TestStaleRegionsOfDeadProcessesAreRemoved(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(shmDir, shmPrefixStem+strconv.Itoa(cmd.Process.Pid)+"-0-0-stale")
	live := filepath.Join(shmDir, shmPrefixStem+strconv.Itoa(os.Getpid())+"-0-0-live")
	for _, p := range []string{dead, live} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(p) })
	}
	removeStaleShm(nil)
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale region %s kept", dead)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live process's region removed: %v", err)
	}
}
