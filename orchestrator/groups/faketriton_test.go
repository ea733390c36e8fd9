package groups

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// fakeTriton is an in-process stand-in for a tritonserver's repository and
// inference API, for unit tests of the manager's own logic (the real-Triton
// tests are in orchestrator/e2e). It records what a bug would break: loads
// per model, the most models loaded at once, the most loads running at
// once, and any unload of a model with a call in flight.
type fakeTriton struct {
	pb.UnimplementedGRPCInferenceServiceServer
	addr string

	loadDelay  time.Duration
	inferDelay time.Duration
	sizes      map[string]uint64 // memory_usage reported per model
	failing    map[string]string // model → load error message
	models     []string          // the repository

	mu              sync.Mutex
	loaded          map[string]bool
	inflight        map[string]int
	loads           map[string]int
	loading         int
	maxLoading      int
	maxLoaded       int
	unloadsInFlight []string // models unloaded while a call ran on them
}

func startFake(t testing.TB, models []string, sizes map[string]uint64) *fakeTriton {
	t.Helper()
	f := &fakeTriton{sizes: sizes, failing: map[string]string{}, models: models,
		loaded: map[string]bool{}, inflight: map[string]int{}, loads: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(s, f)
	done := make(chan struct{})
	go func() { _ = s.Serve(l); close(done) }()
	t.Cleanup(func() { s.Stop(); <-done })
	f.addr = l.Addr().String()
	return f
}

// fakeRepo writes a config.pbtxt per model (the loader's override base).
func fakeRepo(t testing.TB, models []string) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range models {
		if err := os.MkdirAll(filepath.Join(dir, m), 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf("name: %q\nbackend: \"python\"\ninstance_group [ { kind: KIND_CPU count: 1 } ]\n", m)
		if err := os.WriteFile(filepath.Join(dir, m, "config.pbtxt"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (f *fakeTriton) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

func (f *fakeTriton) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: true}, nil
}

func (f *fakeTriton) ModelReady(_ context.Context, r *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &pb.ModelReadyResponse{Ready: f.loaded[r.GetName()]}, nil
}

func (f *fakeTriton) ModelConfig(_ context.Context, r *pb.ModelConfigRequest) (*pb.ModelConfigResponse, error) {
	return &pb.ModelConfigResponse{Config: &pb.ModelConfig{Name: r.GetName(), InstanceGroup: []*pb.ModelInstanceGroup{{Kind: pb.ModelInstanceGroup_KIND_CPU, Count: 1}}}}, nil
}

func (f *fakeTriton) ModelStatistics(_ context.Context, r *pb.ModelStatisticsRequest) (*pb.ModelStatisticsResponse, error) {
	st := &pb.ModelStatistics{Name: r.GetName(), Version: "1"}
	if b := f.sizes[r.GetName()]; b > 0 {
		st.MemoryUsage = []*pb.MemoryUsage{{Type: "CPU", ByteSize: b}}
	}
	return &pb.ModelStatisticsResponse{ModelStats: []*pb.ModelStatistics{st}}, nil
}

func (f *fakeTriton) RepositoryIndex(_ context.Context, r *pb.RepositoryIndexRequest) (*pb.RepositoryIndexResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &pb.RepositoryIndexResponse{}
	for _, m := range f.models {
		switch {
		case f.loaded[m]:
			resp.Models = append(resp.Models, &pb.RepositoryIndexResponse_ModelIndex{Name: m, Version: "1", State: "READY"})
		case !r.GetReady():
			resp.Models = append(resp.Models, &pb.RepositoryIndexResponse_ModelIndex{Name: m, State: "UNAVAILABLE"})
		}
	}
	return resp, nil
}

func (f *fakeTriton) RepositoryModelLoad(_ context.Context, r *pb.RepositoryModelLoadRequest) (*pb.RepositoryModelLoadResponse, error) {
	m := r.GetModelName()
	f.mu.Lock()
	f.loads[m]++
	f.loading++
	f.maxLoading = max(f.maxLoading, f.loading)
	f.mu.Unlock()
	time.Sleep(f.loadDelay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loading--
	if msg, bad := f.failing[m]; bad {
		return nil, status.Error(codes.InvalidArgument, msg)
	}
	if !slices.Contains(f.models, m) {
		return nil, status.Errorf(codes.InvalidArgument, "failed to load '%s', failed to poll from model repository", m)
	}
	f.loaded[m] = true
	n := 0
	for range f.loaded {
		n++
	}
	f.maxLoaded = max(f.maxLoaded, n)
	return &pb.RepositoryModelLoadResponse{}, nil
}

func (f *fakeTriton) RepositoryModelUnload(_ context.Context, r *pb.RepositoryModelUnloadRequest) (*pb.RepositoryModelUnloadResponse, error) {
	m := r.GetModelName()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inflight[m] > 0 {
		f.unloadsInFlight = append(f.unloadsInFlight, m)
	}
	delete(f.loaded, m)
	return &pb.RepositoryModelUnloadResponse{}, nil
}

func (f *fakeTriton) ModelInfer(_ context.Context, r *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	m := r.GetModelName()
	f.mu.Lock()
	if !f.loaded[m] {
		f.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "Request for unknown model: '%s' is not found", m)
	}
	f.inflight[m]++
	f.mu.Unlock()
	time.Sleep(f.inferDelay)
	f.mu.Lock()
	f.inflight[m]--
	gone := !f.loaded[m]
	f.mu.Unlock()
	if gone {
		return nil, status.Errorf(codes.Internal, "model '%s' unloaded during the call", m)
	}
	return &pb.ModelInferResponse{ModelName: m}, nil
}

func (f *fakeTriton) snapshot() (loads map[string]int, maxLoaded, maxLoading int, badUnloads []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps(f.loads), f.maxLoaded, f.maxLoading, slices.Clone(f.unloadsInFlight)
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
