package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/groups"
	"github.com/batonhq/baton/orchestrator/loader"
	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
	"github.com/batonhq/baton/tritonclient/localfleet"
)

// slowMember is a churn model whose execute() sleeps (delay_ms), to hold a
// request open on it.
const slowMember = "churn_zz_slow"

// groupRepo builds a model repository for the group tests: the 12
// churn_<region> models, slowMember (a copy of churn_us_east with
// delay_ms), and broken_model.
func groupRepo(t *testing.T, slowDelay time.Duration) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "model_repository")
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && (strings.HasPrefix(e.Name(), "churn_") || e.Name() == "broken_model") {
			copyDir(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
		}
	}
	copyDir(t, filepath.Join(src, "churn_us_east"), filepath.Join(dst, slowMember))
	cfgPath := filepath.Join(dst, slowMember, "config.pbtxt")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(cfg), `name: "churn_us_east"`, `name: "`+slowMember+`"`, 1)
	s = strings.Replace(s, `{ key: "ballast_bytes" value: { string_value: "0" } }`,
		fmt.Sprintf(`{ key: "ballast_bytes" value: { string_value: "0" } },
  { key: "delay_ms" value: { string_value: "%d" } }`, slowDelay.Milliseconds()), 1)
	if err := os.WriteFile(cfgPath, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// directPipeline is a one-stage pipeline over a group: FEATURES in,
// PROBABILITIES out.
func directPipeline(t *testing.T, group string) string {
	t.Helper()
	dir := t.TempDir()
	spec := `name: direct
maxBatchSize: 32
inputs: [{name: X, datatype: FP32, shape: [-1, 7]}]
outputs: [{name: P, datatype: FP32, shape: [-1, 3]}]
stages: [{name: pick, group: ` + group + `, inputs: {FEATURES: X}, outputs: {PROBABILITIES: P}}]
`
	if err := os.WriteFile(filepath.Join(dir, "direct.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var featureBody = []byte(`{"inputs":[{"name":"X","datatype":"FP32","shape":[1,7],"data":[0.4,0.3,0.1,0.5,0.2,0.1,0.3]}]}`)

// post is a goroutine-safe request: status, body, Server-Timing.
func post(ctx context.Context, url, target string) (int, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v2/models/direct/infer", bytes.NewReader(featureBody))
	if err != nil {
		return 0, "", "", err
	}
	if target != "" {
		req.Header.Set("X-Baton-Target-Model", target)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Server-Timing"), nil
}

// tritonLoads counts Triton's own "loading: MODEL:1" log lines: one per
// RepositoryModelLoad that reached the server, whoever sent it.
func tritonLoads(t *testing.T, logPath, model string) int {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte(`"loading: `+model+`:1"`))
}

// measureChurn loads one churn model through Baton's loader and returns
// its measured footprint, then unloads it.
func measureChurn(t *testing.T, in *localfleet.Instance, repo string) uint64 {
	t.Helper()
	ctx := t.Context()
	fl, err := fleet.New(&fleet.File{Instances: []fleet.InstanceSpec{{Name: in.Name, GRPC: in.GRPCAddr, Kind: "cpu"}}}, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	ld := loader.New(fl, loader.Options{Repository: repo})
	p := loader.Placement{Instance: in.Name, Kind: tritonclient.KindCPU}
	if err := ld.Ensure(ctx, "churn_af_south", p); err != nil {
		t.Fatal(err)
	}
	fp, ok := ld.Measured("churn_af_south", "cpu")
	if !ok || fp.Bytes == 0 {
		t.Fatalf("no measured footprint for churn_af_south: %+v", fp)
	}
	if err := ld.Unload(ctx, in.Name, "churn_af_south", time.Second); err != nil {
		t.Fatal(err)
	}
	return fp.Bytes
}

func groupView(t *testing.T, b *baton, name string) groups.View {
	t.Helper()
	r := b.do(t, http.MethodGet, "/admin/groups/"+name, nil, nil)
	if r.status != 200 {
		t.Fatalf("GET /admin/groups/%s: %d %s", name, r.status, r.body)
	}
	var v groups.View
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGroupOnRealTriton runs a 14-member group (13 churn models and a
// broken one) on one real tritonserver with a budget that holds 4 churn
// models.
func TestGroupOnRealTriton(t *testing.T) {
	ctx := t.Context()
	repo := groupRepo(t, 6*time.Second)
	logDir := t.TempDir()
	tf, err := localfleet.Start(ctx, localfleet.Options{ModelRepository: repo, NamePrefix: "group-", LogDir: logDir})
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Stop(context.WithoutCancel(ctx))
	logPath := filepath.Join(logDir, "group-0.log")

	one := measureChurn(t, tf.Instances[0], repo)
	budget := 4*one + one/2
	t.Logf("churn footprint %d bytes (procfs); budget %d bytes", one, budget)
	spec := &groups.Spec{Name: "regional", MemberPattern: "churn_*", Members: []string{"broken_model"}, Budget: groups.Budget{Bytes: budget}}
	b := startBaton(t, batonOpts{
		instances: tf.Instances, noFiles: true, pipelineDir: directPipeline(t, "regional"), repository: repo,
		groups:    []*groups.Spec{spec},
		groupOpts: groups.Options{Backoff: 2 * time.Second, LoadsPerSecond: -1, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))},
	})

	t.Run("unknown and missing target", func(t *testing.T) {
		for _, target := range []string{"churn_nowhere", "tabular_classifier"} {
			r := b.do(t, http.MethodPost, "/v2/models/direct/infer", featureBody, map[string]string{"X-Baton-Target-Model": target})
			msg := errorJSON(t, r)
			if r.status != http.StatusNotFound || !strings.Contains(msg, `group "regional"`) || !strings.Contains(msg, `"`+target+`"`) {
				t.Errorf("target %s: %d %s; want 404 naming the group and the target", target, r.status, msg)
			}
		}
		r := b.do(t, http.MethodPost, "/v2/models/direct/infer", featureBody, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(errorJSON(t, r), "target") {
			t.Errorf("no target: %d %s; want 400", r.status, r.body)
		}
		// The gRPC door: the target_model parameter, NOT_FOUND / INVALID_ARGUMENT.
		c := b.client(t)
		for target, want := range map[string]codes.Code{"churn_nowhere": codes.NotFound, "": codes.InvalidArgument} {
			_, err := c.ModelInfer(ctx, grpcFeatures(target))
			if te, ok := errors.AsType[*tritonclient.Error](err); !ok || te.Code != want {
				t.Errorf("gRPC target %q: %v; want %s", target, err, want)
			}
		}
	})

	t.Run("64 concurrent cold requests share one load", func(t *testing.T) {
		const model = "churn_eu_north"
		before := tritonLoads(t, logPath, model)
		var wg sync.WaitGroup
		var ok atomic.Int32
		errs := make(chan string, 64)
		for range 64 {
			wg.Go(func() {
				status, body, _, err := post(ctx, b.httpURL, model)
				if err != nil || status != 200 {
					errs <- fmt.Sprintf("%d %s %v", status, body, err)
					return
				}
				ok.Add(1)
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if got := tritonLoads(t, logPath, model) - before; got != 1 || ok.Load() != 64 {
			t.Fatalf("Triton saw %d loads of %s and %d/64 requests succeeded; want 1 and 64", got, model, ok.Load())
		}
	})

	t.Run("budget holds 4; the model in use is never evicted", func(t *testing.T) {
		// Sample Triton's own view of loaded churn models throughout.
		tc, err := tritonclient.New(tf.Instances[0].GRPCAddr, tritonclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		stop := make(chan struct{})
		var maxLoaded, samples atomic.Int32
		var sampler sync.WaitGroup
		sampler.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				idx, err := tc.RepositoryIndex(ctx, true)
				if err != nil {
					continue
				}
				n := int32(0)
				for _, e := range idx {
					if strings.HasPrefix(e.Name, "churn_") {
						n++
					}
				}
				samples.Add(1)
				if n > maxLoaded.Load() {
					maxLoaded.Store(n)
				}
			}
		})
		slowDone := make(chan string, 1)
		go func() {
			status, body, _, err := post(ctx, b.httpURL, slowMember)
			slowDone <- fmt.Sprintf("%d %s %v", status, body, err)
		}()
		// Wait until the slow request holds its model.
		deadline := time.Now().Add(30 * time.Second)
		for !inUse(groupView(t, b, "regional"), slowMember) {
			if time.Now().After(deadline) {
				t.Fatal("the slow request never held its model")
			}
			if len(slowDone) > 0 {
				t.Fatalf("the slow request ended before it was seen in use: %s", <-slowDone)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Pressure: every other churn member while the slow one is in use.
		var members []string
		for _, r := range []string{"af_south", "ap_northeast", "ap_south", "ap_southeast", "ca_central", "eu_central", "eu_west", "sa_east", "us_central", "us_east", "us_west", "eu_north"} {
			members = append(members, "churn_"+r)
		}
		evictedWhileHeld := false
		heldUntil := time.Time{}
		for i, m := range members {
			status, body, timing, err := post(ctx, b.httpURL, m)
			if err != nil || status != 200 || !strings.Contains(timing, m+"@") {
				t.Fatalf("request %d to %s: %d %s %v (Server-Timing %q)", i, m, status, body, err, timing)
			}
			if len(slowDone) == 0 {
				v := groupView(t, b, "regional")
				if !inUse(v, slowMember) {
					continue // the slow request just finished
				}
				heldUntil = time.Now()
				for _, ev := range v.Evictions {
					if ev.Model == slowMember {
						evictedWhileHeld = true
					}
				}
			}
		}
		res := <-slowDone
		close(stop)
		sampler.Wait()
		if !strings.HasPrefix(res, "200 ") {
			t.Fatalf("slow request: %s", res)
		}
		v := groupView(t, b, "regional")
		t.Logf("max churn models loaded %d over %d samples; %d evictions; slow request held until %s", maxLoaded.Load(), samples.Load(), len(v.Evictions), heldUntil.Format(time.StampMilli))
		if evictedWhileHeld {
			t.Errorf("%s was evicted while a request held it", slowMember)
		}
		if heldUntil.IsZero() {
			t.Errorf("no member request ran while the slow request held its model (the pressure came too late)")
		}
		if maxLoaded.Load() > 4 || maxLoaded.Load() < 3 {
			t.Errorf("Triton had up to %d churn models loaded; want the budget's 4 (at least 3)", maxLoaded.Load())
		}
		if len(v.Evictions) < 8 {
			t.Errorf("%d evictions for 13 members in a 4-model budget; want ≥ 8", len(v.Evictions))
		}
		for _, in := range v.Instances {
			if in.UsedBytes > in.BudgetBytes || len(in.Models) > 4 {
				t.Errorf("instance %s: %d bytes of %d, %d models", in.Instance, in.UsedBytes, in.BudgetBytes, len(in.Models))
			}
		}
	})

	t.Run("a broken member gives 424 and is retried only after the backoff", func(t *testing.T) {
		before := tritonLoads(t, logPath, "broken_model")
		r := b.do(t, http.MethodPost, "/v2/models/direct/infer", featureBody, map[string]string{"X-Baton-Target-Model": "broken_model"})
		msg := errorJSON(t, r)
		if r.status != http.StatusFailedDependency || !strings.Contains(msg, "initialize() always fails") || !strings.Contains(msg, `"broken_model"`) {
			t.Fatalf("broken member: %d %s; want 424 with Triton's message", r.status, msg)
		}
		r = b.do(t, http.MethodPost, "/v2/models/direct/infer", featureBody, map[string]string{"X-Baton-Target-Model": "broken_model"})
		if r.status != http.StatusFailedDependency {
			t.Fatalf("second request inside the backoff: %d %s", r.status, r.body)
		}
		if got := tritonLoads(t, logPath, "broken_model") - before; got != 1 {
			t.Fatalf("Triton saw %d loads of broken_model inside the backoff; want 1", got)
		}
		v := groupView(t, b, "regional")
		if len(v.Failures) != 1 || v.Failures[0].Model != "broken_model" || v.Failures[0].RetryAt.IsZero() {
			t.Fatalf("admin view failures %+v", v.Failures)
		}
		time.Sleep(time.Until(v.Failures[0].RetryAt) + 100*time.Millisecond)
		r = b.do(t, http.MethodPost, "/v2/models/direct/infer", featureBody, map[string]string{"X-Baton-Target-Model": "broken_model"})
		if r.status != http.StatusFailedDependency || tritonLoads(t, logPath, "broken_model")-before != 2 {
			t.Fatalf("after the backoff: %d %s, %d loads; want 424 after a second load", r.status, r.body, tritonLoads(t, logPath, "broken_model")-before)
		}
		_, err := b.client(t).ModelInfer(ctx, grpcFeatures("broken_model"))
		if te, ok := errors.AsType[*tritonclient.Error](err); !ok || te.Code != codes.FailedPrecondition || !strings.Contains(te.Message, "initialize() always fails") {
			t.Errorf("gRPC broken member: %v; want FAILED_PRECONDITION with Triton's message", err)
		}
		// Baton keeps serving the group, on both doors.
		if status, body, _, err := post(ctx, b.httpURL, "churn_us_east"); status != 200 {
			t.Fatalf("a good member after the failures: %d %s %v", status, body, err)
		}
		if _, err := b.client(t).ModelInfer(ctx, grpcFeatures("churn_us_east")); err != nil {
			t.Fatalf("gRPC, a good member: %v", err)
		}
	})

	t.Run("admin view and metrics", func(t *testing.T) {
		v := groupView(t, b, "regional")
		if len(v.Instances) != 1 || v.Instances[0].BudgetBytes != budget || v.Policy != "lru" {
			t.Fatalf("view %+v", v)
		}
		for _, m := range v.Instances[0].Models {
			if !m.Measured || m.Bytes == 0 || m.InUse != 0 {
				t.Errorf("model %+v: want a measured footprint and no request in flight", m)
			}
		}
		if r := b.do(t, http.MethodGet, "/admin/groups/nope", nil, nil); r.status != 404 {
			t.Errorf("unknown group: %d", r.status)
		}
		metrics := string(b.do(t, http.MethodGet, "/metrics", nil, nil).body)
		for _, want := range []string{
			`baton_group_requests_total{group="regional",result="hit"}`,
			`baton_group_requests_total{group="regional",result="cold"}`,
			`baton_group_requests_total{group="regional",result="unknown"} 3`, // 2 HTTP + 1 gRPC
			`baton_group_cold_load_seconds_count{group="regional"}`,
			`baton_group_evictions_total{group="regional",instance="group-0"}`,
			`baton_group_load_failures_total{group="regional",reason="failed"} 2`,
			`baton_group_memory_budget_bytes{group="regional",instance="group-0"} ` + strconv.FormatFloat(float64(budget), 'g', -1, 64),
			`baton_group_loaded_models{group="regional",instance="group-0"}`,
			`baton_group_memory_unreturned_bytes{group="regional",instance="group-0"} 0`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// grpcFeatures is featureBody as a gRPC request naming target ("" for none).
func grpcFeatures(target string) *pb.ModelInferRequest {
	raw := make([]byte, 0, 28)
	for _, v := range []float32{0.4, 0.3, 0.1, 0.5, 0.2, 0.1, 0.3} {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	req := &pb.ModelInferRequest{
		ModelName:        "direct",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "X", Datatype: "FP32", Shape: []int64{1, 7}}},
		RawInputContents: [][]byte{raw},
	}
	if target != "" {
		req.Parameters = map[string]*pb.InferParameter{"target_model": {ParameterChoice: &pb.InferParameter_StringParam{StringParam: target}}}
	}
	return req
}

func inUse(v groups.View, model string) bool {
	for _, in := range v.Instances {
		for _, m := range in.Models {
			if m.Model == model && m.InUse > 0 && !m.Loading {
				return true
			}
		}
	}
	return false
}

// TestGroupLoadSurvivesKilledInstance kills the tritonserver a group load
// is running on: the load moves to the other instance and the request
// succeeds; the group keeps serving.
func TestGroupLoadSurvivesKilledInstance(t *testing.T) {
	ctx := t.Context()
	repo := groupRepo(t, 0)
	logDir := t.TempDir()
	tf, err := localfleet.Start(ctx, localfleet.Options{ModelRepository: repo, NamePrefix: "gk-", Instances: 2, LogDir: logDir})
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Stop(context.WithoutCancel(ctx))
	spec := &groups.Spec{Name: "regional", MemberPattern: "churn_*", Budget: groups.Budget{Bytes: 1 << 30}, Pinned: []string{"churn_sa_east"}}
	b := startBaton(t, batonOpts{
		instances: tf.Instances, noFiles: true, pipelineDir: directPipeline(t, "regional"), repository: repo,
		groups: []*groups.Spec{spec}, groupOpts: groups.Options{LoadsPerSecond: -1},
	})
	const model = "churn_ca_central"
	// Kill gk-0 (first in fleet order, so the load goes there) as soon as
	// Triton logs that the load started.
	killed := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(filepath.Join(logDir, "gk-0.log")); bytes.Contains(b, []byte(`"loading: `+model+`:1"`)) {
				killed <- tf.Instances[0].Kill(context.WithoutCancel(ctx))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		killed <- fmt.Errorf("load never started on gk-0")
	}()
	status, body, timing, err := post(ctx, b.httpURL, model)
	if kerr := <-killed; kerr != nil {
		t.Fatal(kerr)
	}
	if err != nil || status != 200 || !strings.Contains(timing, model+"@gk-1") {
		t.Fatalf("request during the kill: %d %s %v (Server-Timing %q); want 200 from gk-1", status, body, err, timing)
	}
	for _, m := range []string{model, "churn_us_west"} {
		if status, body, timing, err := post(ctx, b.httpURL, m); status != 200 || !strings.Contains(timing, "@gk-1") {
			t.Fatalf("after the kill, %s: %d %s %v (%q)", m, status, body, err, timing)
		}
	}
	if !strings.Contains(string(b.do(t, http.MethodGet, "/metrics", nil, nil).body), `baton_group_load_failures_total{group="regional",reason="unavailable"} 1`) {
		t.Errorf("metrics do not count the load lost with gk-0")
	}
	// Prewarm (as `baton serve` runs it at start) loads the pinned member
	// on the surviving instance, pinned.
	if err := b.groups.Prewarm(ctx); err != nil {
		t.Fatal(err)
	}
	v := groupView(t, b, "regional")
	pinned := false
	for _, in := range v.Instances {
		for _, m := range in.Models {
			pinned = pinned || in.Instance == "gk-1" && m.Model == "churn_sa_east" && m.Pinned
		}
	}
	if !pinned {
		t.Fatalf("after Prewarm: %+v; want churn_sa_east pinned on gk-1", v.Instances)
	}
}
