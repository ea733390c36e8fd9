// Package localfleet starts and stops real tritonserver processes on
// 127.0.0.1: the fleet that Baton's tests and its single-machine demo run
// against. Each server gets its own HTTP, gRPC and metrics ports, explicit
// model control, the given model repository and a unique Python-backend
// shared-memory prefix, so several fleets can share one host. Stop always
// leaves no process and no /dev/shm region behind.
//
// It owns process lifecycle only; it must not speak Triton's protocol beyond
// the HTTP readiness probe (that is package tritonclient's job).
package localfleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ShmDir is where the Python backend creates its shared-memory regions.
const shmDir = "/dev/shm"

// shmPrefixStem starts every shared-memory prefix this package hands out;
// the creating process id follows it so stale regions can be recognised.
const shmPrefixStem = "baton-"

// ErrTritonNotInstalled means no tritonserver binary was found.
var ErrTritonNotInstalled = errors.New("tritonserver not installed")

// ErrStartFailed means a tritonserver process exited or never became ready.
var ErrStartFailed = errors.New("tritonserver failed to start")

// Options configures a fleet.
type Options struct {
	// TritonHome holds bin/tritonserver and backends/; empty means
	// DefaultTritonHome().
	TritonHome string
	// ModelRepository is the directory of models every server serves.
	ModelRepository string
	// Instances is how many servers to start (default 1).
	Instances int
	// LoadModels are loaded at start-up (--load-model); the rest stay
	// unloaded until someone calls the repository load API.
	LoadModels []string
	// LogDir receives one log file per server; empty means a temporary
	// directory that Stop removes unless a server failed.
	LogDir string
	// StartTimeout bounds each server's start-up (default 60s).
	StartTimeout time.Duration
	// NamePrefix names the instances NamePrefix0, NamePrefix1, … (default "triton-").
	NamePrefix string
	// BasePort, when set, gives instance i the fixed ports BasePort+100*i
	// (HTTP), +1 (gRPC) and +2 (metrics), Triton's default layout for
	// instance 0 with BasePort 8000; zero picks free ports.
	BasePort int
	// StartAttempts is how many times a server that fails to start is
	// started again (default 2); 1 disables retries.
	StartAttempts int
	// ExtraArgs are appended to every server's command line.
	ExtraArgs []string
	// AutoCompleteConfig keeps Triton's default config auto-completion
	// (off by default here: see launch).
	AutoCompleteConfig bool
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
}

// Instance is one running tritonserver.
type Instance struct {
	// Name is unique within the fleet.
	Name string
	// GRPCAddr, HTTPAddr and MetricsAddr are host:port on 127.0.0.1.
	GRPCAddr, HTTPAddr, MetricsAddr string
	// ShmPrefix is the Python backend's shared-memory region prefix.
	ShmPrefix string
	// LogPath is the server's combined stdout/stderr.
	LogPath string
	// Version is the server version reported by GET /v2 once ready.
	Version string

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has been reaped
	mu     sync.Mutex
	waited error
}

// Fleet is a set of tritonserver processes started together.
type Fleet struct {
	// Instances are in start order.
	Instances []*Instance

	logDir     string
	tempLogDir bool
	logger     *slog.Logger
	stopOnce   sync.Once
	stopErr    error
}

// DefaultTritonHome is $BATON_TRITON_HOME, else $BATON_HOME/triton, else
// ~/.cache/baton/triton: where deploy/local/install.sh puts Triton.
func DefaultTritonHome() string {
	if h := os.Getenv("BATON_TRITON_HOME"); h != "" {
		return h
	}
	if h := os.Getenv("BATON_HOME"); h != "" {
		return filepath.Join(h, "triton")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "baton", "triton")
	}
	return filepath.Join(home, ".cache", "baton", "triton")
}

// Start launches opts.Instances servers and waits until each is ready. On
// failure it stops whatever it started and returns an error that includes the
// tail of the failing server's log.
func Start(ctx context.Context, opts Options) (*Fleet, error) {
	if opts.Instances <= 0 {
		opts.Instances = 1
	}
	if opts.TritonHome == "" {
		opts.TritonHome = DefaultTritonHome()
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.StartAttempts <= 0 {
		opts.StartAttempts = 2
	}
	if opts.NamePrefix == "" {
		opts.NamePrefix = "triton-"
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bin := filepath.Join(opts.TritonHome, "bin", "tritonserver")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %s missing (run deploy/local/install.sh): %v", ErrTritonNotInstalled, bin, err)
	}
	repo, err := filepath.Abs(opts.ModelRepository)
	if err != nil || opts.ModelRepository == "" {
		return nil, fmt.Errorf("model repository %q: %w", opts.ModelRepository, err)
	}
	opts.ModelRepository = repo
	removeStaleShm(logger)

	f := &Fleet{logger: logger, logDir: opts.LogDir}
	if f.logDir == "" {
		d, err := os.MkdirTemp("", "baton-fleet-")
		if err != nil {
			return nil, fmt.Errorf("log dir: %w", err)
		}
		f.logDir, f.tempLogDir = d, true
	} else if err := os.MkdirAll(f.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}

	// Start all processes first, then wait for them together: start-up is
	// dominated by model loads that run in parallel across servers.
	for i := range opts.Instances {
		in, err := f.launch(opts, bin, i)
		if err != nil {
			_ = f.Stop(context.WithoutCancel(ctx))
			return nil, err
		}
		f.Instances = append(f.Instances, in)
	}
	for i, in := range f.Instances {
		err := in.waitReady(ctx, opts.StartTimeout)
		// The Python backend sometimes aborts a start on a heavily loaded
		// host (boost::interprocess::lock_exception while a stub starts):
		// give such a server fresh ports and another go.
		for attempt := 2; err != nil && attempt <= opts.StartAttempts && ctx.Err() == nil; attempt++ {
			logger.Warn("tritonserver failed to start; retrying", "name", in.Name, "attempt", attempt, "err", err)
			_ = in.Stop(context.WithoutCancel(ctx), 5*time.Second)
			if in, err = f.launch(opts, bin, i); err == nil {
				f.Instances[i] = in
				err = in.waitReady(ctx, opts.StartTimeout)
			}
		}
		if err != nil {
			f.tempLogDir = false // keep logs for the post-mortem
			_ = f.Stop(context.WithoutCancel(ctx))
			return nil, err
		}
		logger.Info("tritonserver ready", "name", in.Name, "version", in.Version, "grpc", in.GRPCAddr, "http", in.HTTPAddr, "metrics", in.MetricsAddr, "log", in.LogPath)
	}
	return f, nil
}

func (f *Fleet) launch(opts Options, bin string, i int) (*Instance, error) {
	ports := []int{opts.BasePort + 100*i, opts.BasePort + 100*i + 1, opts.BasePort + 100*i + 2}
	if opts.BasePort == 0 {
		var err error
		if ports, err = freePorts(3); err != nil {
			return nil, err
		}
	}
	name := fmt.Sprintf("%s%d", opts.NamePrefix, i)
	in := &Instance{
		Name:        name,
		HTTPAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		GRPCAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		MetricsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
		ShmPrefix:   fmt.Sprintf("%s%d-%d-%d-", shmPrefixStem, os.Getpid(), time.Now().UnixNano()%1e6, i),
		LogPath:     filepath.Join(f.logDir, name+".log"),
		done:        make(chan struct{}),
	}
	args := []string{
		"--model-repository=" + opts.ModelRepository,
		"--model-control-mode=explicit",
		"--backend-directory=" + filepath.Join(opts.TritonHome, "backends"),
		"--http-address=127.0.0.1", "--http-port=" + strconv.Itoa(ports[0]),
		"--grpc-address=127.0.0.1", "--grpc-port=" + strconv.Itoa(ports[1]),
		"--metrics-address=127.0.0.1", "--metrics-port=" + strconv.Itoa(ports[2]),
		"--allow-gpu-metrics=false",
		"--exit-timeout-secs=5",
		// One load thread: concurrent Python stub start-ups on a small, busy
		// host make the Python backend abort (boost lock_exception).
		"--model-load-thread-count=1",

		"--backend-config=python,shm-region-prefix-name=" + in.ShmPrefix,
	}
	for _, m := range opts.LoadModels {
		args = append(args, "--load-model="+m)
	}
	if !opts.AutoCompleteConfig {
		// Every config in the repository is complete and Baton's loader
		// sends complete configs: auto-complete would only start and stop
		// a throwaway Python stub per load (~1.2 s of a ~1.3 s load here,
		// benchmarks/results/group-cold-start.md).
		args = append(args, "--disable-auto-complete-config")
	}
	args = append(args, opts.ExtraArgs...)
	logFile, err := os.Create(in.LogPath)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group so Stop reaches the Python stubs too; Pdeathsig so a
	// crashed parent (a panicking test binary) takes the server with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrStartFailed, name, err)
	}
	in.cmd = cmd
	go func() {
		err := cmd.Wait()
		logFile.Close()
		in.mu.Lock()
		in.waited = err
		in.mu.Unlock()
		close(in.done)
	}()
	f.logger.Debug("tritonserver started", "name", name, "pid", cmd.Process.Pid, "args", strings.Join(args, " "))
	return in, nil
}

// waitReady polls /v2/health/ready until the server answers 200, it exits,
// the timeout passes or ctx ends.
func (in *Instance) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + in.HTTPAddr + "/v2/health/ready"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in.readVersion(ctx, client)
			}
		}
		select {
		case <-in.done:
			return fmt.Errorf("%w: %s exited (%v); log %s:\n%s", ErrStartFailed, in.Name, in.exitErr(), in.LogPath, tail(in.LogPath, 25))
		case <-ctx.Done():
			return fmt.Errorf("%w: %s not ready after %s (%v); log %s:\n%s", ErrStartFailed, in.Name, timeout, ctx.Err(), in.LogPath, tail(in.LogPath, 25))
		case <-tick.C:
		}
	}
}

// readVersion records the version from the server's metadata (GET /v2).
func (in *Instance) readVersion(ctx context.Context, client *http.Client) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.HTTPAddr+"/v2", nil)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: server metadata: %v", ErrStartFailed, in.Name, err)
	}
	defer resp.Body.Close()
	var md struct {
		Version string `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		return fmt.Errorf("%w: %s: server metadata: %v", ErrStartFailed, in.Name, err)
	}
	in.Version = md.Version
	return nil
}

func (in *Instance) exitErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.waited
}

// PID is the server's process id.
func (in *Instance) PID() int { return in.cmd.Process.Pid }

// Running reports whether the server process has not exited yet.
func (in *Instance) Running() bool {
	select {
	case <-in.done:
		return false
	default:
		return true
	}
}

// Stop ends the server gracefully (SIGTERM to its process group), escalating
// to SIGKILL after grace, then removes any shared-memory region it left. It
// is safe to call more than once.
func (in *Instance) Stop(ctx context.Context, grace time.Duration) error {
	pgid := in.cmd.Process.Pid
	if in.Running() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-in.done:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	// Whatever is left in the group (the server, or Python stubs that
	// outlived it) is killed; ESRCH just means the group is gone.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-in.done
	if err := waitGroupGone(ctx, pgid); err != nil {
		return fmt.Errorf("stop %s: %w", in.Name, err)
	}
	return removeShm(in.ShmPrefix)
}

// Kill ends the server abruptly with SIGKILL, as a crash would, and cleans
// up its shared memory. Tests use it to take an instance away mid-run.
func (in *Instance) Kill(ctx context.Context) error { return in.Stop(ctx, 0) }

// Stop stops every server. It is safe to call more than once; the first
// call's result is returned to all.
func (f *Fleet) Stop(ctx context.Context) error {
	f.stopOnce.Do(func() {
		var errs []error
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, in := range f.Instances {
			wg.Go(func() {
				if err := in.Stop(ctx, 10*time.Second); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if f.tempLogDir && len(errs) == 0 {
			_ = os.RemoveAll(f.logDir)
		}
		f.stopErr = errors.Join(errs...)
		f.logger.Info("fleet stopped", "instances", len(f.Instances), "err", f.stopErr)
	})
	return f.stopErr
}

// LogDir is where the servers' logs are written.
func (f *Fleet) LogDir() string { return f.logDir }

func waitGroupGone(ctx context.Context, pgid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("process group %d still alive", pgid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// freePorts asks the kernel for n distinct free loopback ports. Another
// process could take one before the server binds it; Start then fails with
// the server's bind error in the log rather than hanging.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func removeShm(prefix string) error {
	matches, err := filepath.Glob(filepath.Join(shmDir, prefix+"*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeStaleShm deletes regions whose creating process (the pid after
// shmPrefixStem) is gone: leftovers of a test binary that was killed.
func removeStaleShm(logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	matches, _ := filepath.Glob(filepath.Join(shmDir, shmPrefixStem+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), shmPrefixStem)
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if os.Remove(m) == nil {
				logger.Info("removed stale shared-memory region", "path", m)
			}
		}
	}
}

// ShmRegions lists the /dev/shm regions this process's fleets own now; tests
// use it to prove a stop left nothing behind.
func ShmRegions() ([]string, error) {
	return filepath.Glob(filepath.Join(shmDir, fmt.Sprintf("%s%d-*", shmPrefixStem, os.Getpid())))
}

func tail(path string, n int) string {
	fh, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer fh.Close()
	var lines []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
