package loader

import (
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/batonhq/baton/tritonclient"
)

// Footprint is a model's measured memory on one kind of device.
type Footprint struct {
	// Bytes is the measured size.
	Bytes uint64
	// Source says how it was measured: "triton" (ModelStatistics
	// memory_usage) or "procfs" (resident memory of the Python backend's
	// stub processes of a tritonserver on this host).
	Source string
}

// measure finds a just-loaded model's footprint: Triton's own memory_usage
// when it reports any (backends such as ONNX Runtime or TensorRT do; the
// Python backend reports none), else the resident memory of the model's
// Python stubs when the server runs on this host. ok is false when neither
// works; the caller keeps its estimate.
func measure(ctx context.Context, c *tritonclient.Client, model string, kind tritonclient.InstanceKind) (Footprint, bool) {
	if stats, err := c.ModelStatistics(ctx, model, ""); err == nil {
		var host, gpu uint64
		for _, s := range stats {
			for _, u := range s.MemoryUsage {
				if u.Type == "GPU" {
					gpu += u.Bytes
				} else {
					host += u.Bytes
				}
			}
		}
		if kind == tritonclient.KindGPU && gpu > 0 {
			return Footprint{Bytes: gpu, Source: "triton"}, true
		}
		if kind != tritonclient.KindGPU && host > 0 {
			return Footprint{Bytes: host, Source: "triton"}, true
		}
	}
	if b, ok := stubRSS(c.Addr(), model); ok {
		return Footprint{Bytes: b, Source: "procfs"}, true
	}
	return Footprint{}, false
}

// stubRSS sums VmRSS of the Python backend stubs serving model for the
// tritonserver on this host whose gRPC port is the one in addr. Stubs carry
// their server's pid and the model's path in their command line.
func stubRSS(addr, model string) (uint64, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
		return 0, false
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	server := ""
	type proc struct {
		dir  string
		args []string
	}
	var stubs []proc
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		switch {
		case strings.HasSuffix(args[0], "tritonserver") && (contains(args, "--grpc-port="+port) || pairContains(args, "--grpc-port", port)):
			server = filepath.Base(filepath.Dir(p))
		case strings.HasSuffix(args[0], "triton_python_backend_stub") && len(args) > 1 && strings.Contains(args[1], "/"+model+"/"):
			stubs = append(stubs, proc{dir: filepath.Dir(p), args: args})
		}
	}
	if server == "" {
		return 0, false
	}
	var total uint64
	found := false
	for _, s := range stubs {
		if !contains(s.args, server) {
			continue // another server's stub for the same model
		}
		if kb, ok := vmRSSKiB(filepath.Join(s.dir, "status")); ok {
			total += kb << 10
			found = true
		}
	}
	return total, found
}

func contains(args []string, s string) bool {
	for _, a := range args {
		if a == s {
			return true
		}
	}
	return false
}

func pairContains(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}

func vmRSSKiB(statusPath string) (uint64, bool) {
	b, err := os.ReadFile(statusPath)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// Estimate is a model's footprint before any load measured it: its files
// in the repository × 4 plus 64 MiB for the backend's own process.
func Estimate(repository, model string) uint64 {
	var size uint64
	_ = filepath.WalkDir(filepath.Join(repository, model), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				size += uint64(info.Size())
			}
		}
		return nil
	})
	return 4*size + 64<<20
}

// Leftover reports memory a model still holds on instance after its unload:
// the resident memory of its Python stubs if any outlived the unload
// (checked twice, 200 ms apart, since a stub may still be exiting). ok is
// false when the instance is not on this host (nothing can be measured).
func (l *Loader) Leftover(instance, model string) (uint64, bool) {
	c, ok := l.fleet.Client(instance)
	if !ok {
		return 0, false
	}
	b, ok := stubRSS(c.Addr(), model)
	if !ok || b == 0 {
		return 0, ok || isLocal(c.Addr())
	}
	time.Sleep(200 * time.Millisecond)
	b, _ = stubRSS(c.Addr(), model)
	return b, true
}

func isLocal(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && (host == "127.0.0.1" || host == "localhost" || host == "::1")
}
