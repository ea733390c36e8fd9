package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/batonhq/baton/orchestrator"
	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/groups"
	"github.com/batonhq/baton/orchestrator/grpcapi"
	"github.com/batonhq/baton/orchestrator/httpapi"
	"github.com/batonhq/baton/orchestrator/loader"
	"github.com/batonhq/baton/orchestrator/store"
	"github.com/batonhq/baton/tritonclient"
	"github.com/batonhq/baton/tritonclient/localfleet"
	"github.com/batonhq/baton/tritonclient/localfleet/fleettest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// tritons is the package's real Triton fleet.
var tritons *localfleet.Fleet

var fleetModels = []string{
	"tabular_preprocess", "tabular_classifier", "tabular_postprocess", "tabular_ensemble",
	"identity_fp32", "slow_identity", "churn_us_east",
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(fleettest.Main(m, localfleet.Options{Instances: 2, LoadModels: fleetModels}, &tritons))
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := fleettest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// baton is one in-process Baton: Service, HTTP and gRPC front doors.
type baton struct {
	svc      *orchestrator.Service
	fleet    *fleet.Fleet
	groups   *groups.Manager
	httpURL  string
	grpcAddr string
	stop     func()
}

type batonOpts struct {
	instances []*localfleet.Instance // default: the package fleet
	dataDir   string                 // default: a temp dir
	noFiles   bool                   // skip deploy/local/pipelines
	bodyLimit int64
	// groups replace deploy/local/groups when set; groupOpts tune the
	// group manager (Repository and Registerer are filled in).
	groups    []*groups.Spec
	groupOpts groups.Options
	// pipelineDir holds extra spec files (YAML) served as files are.
	pipelineDir string
	// repository is the model repository the instances serve (default
	// the repository's model_repository).
	repository string
}

// startBaton wires Baton the way `baton serve` does and stops it at the
// end of the test (or earlier via b.stop).
func startBaton(t *testing.T, o batonOpts) *baton {
	t.Helper()
	ctx := context.Background()
	if o.instances == nil {
		o.instances = tritons.Instances
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	file := &fleet.File{}
	for _, in := range o.instances {
		file.Instances = append(file.Instances, fleet.InstanceSpec{Name: in.Name, GRPC: in.GRPCAddr, HTTP: in.HTTPAddr, Metrics: in.MetricsAddr, Kind: "cpu"})
	}
	fl, err := fleet.New(file, fleet.Options{PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fl.Refresh(ctx)
	reg := prometheus.NewRegistry()
	repo := o.repository
	if repo == "" {
		repo = filepath.Join(repoRoot(t), "model_repository")
	}
	ld := loader.New(fl, loader.Options{Repository: repo})
	specs := o.groups
	if specs == nil {
		if specs, err = groups.LoadDir(filepath.Join(repoRoot(t), "deploy", "local", "groups")); err != nil {
			t.Fatal(err)
		}
	}
	gopts := o.groupOpts
	gopts.Repository, gopts.Registerer = repo, reg
	gm, err := groups.New(fl, ld, specs, gopts)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := executor.New(gm, executor.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, o.dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := orchestrator.NewService(orchestrator.Config{Executor: exec, Metadata: fl.Metadata, Store: st, Groups: gm})
	if !o.noFiles {
		if err := svc.LoadDir(filepath.Join(repoRoot(t), "deploy", "local", "pipelines")); err != nil {
			t.Fatal(err)
		}
	}
	if o.pipelineDir != "" {
		if err := svc.LoadDir(o.pipelineDir); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.LoadStore(ctx); err != nil {
		t.Fatal(err)
	}
	hsrv, err := httpapi.New(svc, httpapi.Options{Registerer: reg, Gatherer: reg, Fleet: fl, Groups: gm, BodyLimit: o.bodyLimit, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpcapi.ServerOptions(64 << 20)...)
	grpcapi.New(svc, grpcapi.Options{ServerName: "baton", ServerVersion: "test", MaxMessageBytes: 64 << 20}).Register(gs)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: hsrv.Handler()}
	pollCtx, cancelPoll := context.WithCancel(ctx)
	done := make(chan struct{}, 3)
	go func() { _ = hs.Serve(hl); done <- struct{}{} }()
	go func() { _ = gs.Serve(gl); done <- struct{}{} }()
	go func() { fl.Run(pollCtx); done <- struct{}{} }()
	svc.SetReady(true)
	stopped := false
	b := &baton{svc: svc, fleet: fl, groups: gm, httpURL: "http://" + hl.Addr().String(), grpcAddr: gl.Addr().String()}
	b.stop = func() {
		if stopped {
			return
		}
		stopped = true
		svc.SetReady(false)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		gs.GracefulStop()
		cancelPoll()
		for range 3 {
			<-done
		}
		fl.Close()
		if err := st.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	}
	t.Cleanup(b.stop)
	return b
}

// httpResult is an HTTP answer read whole.
type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func (b *baton) do(t *testing.T, method, path string, body []byte, header map[string]string) httpResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.httpURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: out}
}

func (b *baton) client(t *testing.T) *tritonclient.Client {
	t.Helper()
	c, err := tritonclient.New(b.grpcAddr, tritonclient.Options{Name: "baton"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tritonClient(t *testing.T, in *localfleet.Instance) *tritonclient.Client {
	t.Helper()
	c, err := tritonclient.New(in.GRPCAddr, tritonclient.Options{Name: in.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// errorJSON decodes an {"error": ...} body.
func errorJSON(t *testing.T, r httpResult) string {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
		t.Fatalf("status %d body %q is not an {\"error\": ...} document (%v)", r.status, r.body, err)
	}
	return body.Error
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("golden file %s missing: run go test ./orchestrator/e2e -run %s -update", path, t.Name())
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from golden file:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// indentJSON normalises a JSON body for golden files.
func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %q", b)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}
