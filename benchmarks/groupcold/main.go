// Command groupcold measures what a cold start costs in a multi-model
// group: one local tritonserver, the real `baton serve` binary in front of it
// with the repository's churn group (deploy/local/groups/churn.yaml: 12
// Python-backend members churn_<region>, at most 4 loaded, cost-aware
// eviction, churn_us_east prewarmed) and a one-stage pipeline over the group,
// so a request's latency is that one group stage. It measures, in this order:
//
//  1. warm: sequential requests to a loaded member (the baseline);
//  2. cold: the first request to each member not loaded, cycling through
//     the other 11 members for -rounds rounds (the cache evicts as it goes),
//     each classified cold or hit from baton_group_requests_total;
//  3. warm during cold loads: the warm member's latency while a second
//     client drives back-to-back cold loads;
//  4. bursts: -burst concurrent requests each to a different cold member
//     (with the warm member idle, then with a client on it), and -same
//     concurrent requests to one cold member;
//  5. Triton alone: load/unload times of one member on a bare tritonserver,
//     with Triton's default auto-complete and with
//     --disable-auto-complete-config.
//
// Every figure is a ratio against the warm baseline measured in the same
// run. The whole run takes about three minutes.
//
//	go run ./benchmarks/groupcold -out benchmarks/results/group-cold-start.md
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/batonhq/baton/benchmarks/harness"
	"github.com/batonhq/baton/benchmarks/harness/scenario"
	"github.com/batonhq/baton/tritonclient"
	"github.com/batonhq/baton/tritonclient/localfleet"
)

const (
	group = "churn"
	warm  = "churn_us_east" // the group's prewarm member
)

var tritonLoading = regexp.MustCompile(`"loading: (churn_[a-z_]+):1"`)

var memberName = regexp.MustCompile(`churn_[a-z_]+`)

var regions = []string{"af_south", "ap_northeast", "ap_south", "ap_southeast", "ca_central", "eu_central", "eu_north", "eu_west", "sa_east", "us_central", "us_east", "us_west"}

// pipelineSpec is a one-stage pipeline over the group: FEATURES in,
// PROBABILITIES out, the member named by X-Baton-Target-Model.
const pipelineSpec = `name: direct
maxBatchSize: 32
inputs: [{name: X, datatype: FP32, shape: [-1, 7]}]
outputs: [{name: P, datatype: FP32, shape: [-1, 3]}]
stages: [{name: pick, group: churn, inputs: {FEATURES: X}, outputs: {PROBABILITIES: P}}]
`

var body = []byte(`{"inputs":[{"name":"X","datatype":"FP32","shape":[1,7],"data":[0.4,0.3,0.1,0.5,0.2,0.1,0.3]}]}`)

func main() {
	out := flag.String("out", filepath.Join("benchmarks", "results", "group-cold-start.md"), "report path")
	warmN := flag.Int("warm", 200, "sequential warm requests for the baseline (after 20 unmeasured)")
	rounds := flag.Int("rounds", 3, "rounds over the 11 non-warm members for the sequential cold samples")
	during := flag.Int("during", 8, "back-to-back cold loads while the warm member is measured")
	burst := flag.Int("burst", 8, "concurrent requests, each to a different cold member (at most 8: 12 members, 4 loaded)")
	same := flag.Int("same", 64, "concurrent requests to one cold member")
	quiet := flag.Duration("quiet", 5*time.Second, "closed-loop warm requests with nothing else running, for comparison with the loop during cold loads")
	tritonLog := flag.String("triton-log", "", "copy the tritonserver's log here before it is removed")
	bare := flag.Int("bare", 3, "load/unload pairs of one member on a bare tritonserver, with and without --disable-auto-complete-config (0: skip)")
	flag.Parse()
	if err := run(*out, *warmN, *rounds, *during, *burst, *same, *quiet, *tritonLog, *bare); err != nil {
		log.Fatal(err)
	}
}

type bench struct {
	url     string
	hc      *http.Client
	logPath string
}

// call is one request through Baton.
type call struct {
	model  string
	lat    time.Duration
	status int
	err    string // transport error or error body
}

func (c call) ok() bool { return c.err == "" && c.status == http.StatusOK }

func (b *bench) infer(ctx context.Context, model string) call {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.url+"/v2/models/direct/infer", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Baton-Target-Model", model)
	t0 := time.Now()
	resp, err := b.hc.Do(req)
	if err != nil {
		return call{model: model, lat: time.Since(t0), err: err.Error()}
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c := call{model: model, lat: time.Since(t0), status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		c.err = strings.TrimSpace(string(rb))
	}
	return c
}

// counters are the group's Prometheus series that a phase reads as deltas.
type counters struct {
	hit, cold, errs     float64 // baton_group_requests_total by result
	loads, loadSeconds  float64 // baton_group_cold_load_seconds count and sum
	evictions           float64 // baton_group_evictions_total, all instances
	tritonLoads, unload int     // Triton log: "loading: churn_*:1", "successfully unloaded 'churn_*'"
}

func (c counters) sub(o counters) counters {
	return counters{c.hit - o.hit, c.cold - o.cold, c.errs - o.errs, c.loads - o.loads, c.loadSeconds - o.loadSeconds, c.evictions - o.evictions, c.tritonLoads - o.tritonLoads, c.unload - o.unload}
}

func (b *bench) counters() (counters, error) {
	var c counters
	resp, err := b.hc.Get(b.url + "/metrics")
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.Contains(line, `group="`+group+`"`) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "baton_group_requests_total{"):
			switch {
			case strings.Contains(line, `result="hit"`):
				c.hit = v
			case strings.Contains(line, `result="cold"`):
				c.cold = v
			case strings.Contains(line, `result="error"`):
				c.errs = v
			}
		case strings.HasPrefix(line, "baton_group_cold_load_seconds_count{"):
			c.loads = v
		case strings.HasPrefix(line, "baton_group_cold_load_seconds_sum{"):
			c.loadSeconds = v
		case strings.HasPrefix(line, "baton_group_evictions_total{"):
			c.evictions += v
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	logb, err := os.ReadFile(b.logPath)
	if err != nil {
		return c, err
	}
	c.tritonLoads = bytes.Count(logb, []byte(`"loading: churn_`))
	c.unload = bytes.Count(logb, []byte(`successfully unloaded 'churn_`))
	return c, nil
}

// groupView is the part of GET /admin/groups/churn this reads.
type groupView struct {
	Instances []struct {
		Models []struct {
			Model   string `json:"model"`
			Loading bool   `json:"loading"`
			Bytes   uint64 `json:"bytes"`
		} `json:"models"`
	} `json:"instances"`
	Evictions []struct {
		Model string    `json:"model"`
		At    time.Time `json:"at"`
		For   string    `json:"for"`
	} `json:"evictions"`
}

func (b *bench) view() (groupView, error) {
	var v groupView
	resp, err := b.hc.Get(b.url + "/admin/groups/" + group)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /admin/groups/%s: %s", group, resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// loaded lists the members loaded (not loading) on any instance.
func (v groupView) loaded() []string {
	var out []string
	for _, in := range v.Instances {
		for _, m := range in.Models {
			if !m.Loading {
				out = append(out, m.Model)
			}
		}
	}
	slices.Sort(out)
	return out
}

// evictedSince counts evictions of model after t.
func (v groupView) evictedSince(model string, t time.Time) int {
	n := 0
	for _, e := range v.Evictions {
		if e.Model == model && e.At.After(t) {
			n++
		}
	}
	return n
}

// coldSample is one sequential request to a member that was not loaded.
type coldSample struct {
	call
	cold      bool          // baton_group_requests_total{result="cold"} moved
	load      time.Duration // Triton's load call (baton_group_cold_load_seconds)
	evictions int
}

type burstResult struct {
	name      string
	models    int
	calls     []call
	wall      time.Duration
	delta     counters
	warmGone  int      // evictions of the warm member during the burst
	warmCalls []call   // the warm client's, when one ran
	reloaded  []string // members Triton loaded more than once during the burst
	loadedEnd []string
}

type results struct {
	tritonVersion, commit string
	start                 time.Time
	prewarm               time.Duration
	warm                  []call
	warmDelta             counters
	cold                  []coldSample
	coldDelta             counters
	quiet                 []call
	quietFor              time.Duration
	during                []call
	duringCold            []call
	duringDelta           counters
	duringWarmGone        int
	bursts                []burstResult
	total                 time.Duration
	leftover              string
	stubStart, modelInit  []time.Duration // from Triton's log, per load
	bare                  []bareResult
}

type bareResult struct {
	args         []string
	load, unload []time.Duration
}

const bareModel = "churn_eu_north"

// bareTriton starts one tritonserver with extra arguments and times reps
// load/unload pairs of bareModel through its gRPC repository API, the load
// with the config override Baton's loader sends (the repository config,
// one KIND_CPU instance) and the unload waited for as Baton waits.
func bareTriton(ctx context.Context, extra []string, reps int) (bareResult, error) {
	res := bareResult{args: extra}
	root, err := scenario.RepoRoot()
	if err != nil {
		return res, err
	}
	repo := filepath.Join(root, "model_repository")
	// localfleet disables auto-complete unless told to keep it: extra
	// nil is Triton's default.
	f, err := localfleet.Start(ctx, localfleet.Options{ModelRepository: repo, NamePrefix: "bare-", ExtraArgs: extra, AutoCompleteConfig: len(extra) == 0})
	if err != nil {
		return res, err
	}
	defer f.Stop(context.WithoutCancel(ctx))
	c, err := tritonclient.New(f.Instances[0].GRPCAddr, tritonclient.Options{})
	if err != nil {
		return res, err
	}
	defer c.Close()
	base, err := tritonclient.ReadModelConfig(filepath.Join(repo, bareModel, "config.pbtxt"))
	if err != nil {
		return res, err
	}
	cfg, err := tritonclient.Override{SetInstanceGroup: true, Kind: tritonclient.KindCPU}.Apply(base)
	if err != nil {
		return res, err
	}
	for range reps {
		t0 := time.Now()
		if err := c.Load(ctx, bareModel, cfg); err != nil {
			return res, err
		}
		t1 := time.Now()
		if err := c.UnloadAndWait(ctx, bareModel, false); err != nil {
			return res, err
		}
		res.load = append(res.load, t1.Sub(t0))
		res.unload = append(res.unload, time.Since(t1))
	}
	return res, nil
}

var logLine = regexp.MustCompile(`(?m)^I(\d{4} \d\d:\d\d:\d\d\.\d+) \d+ \S+\] "(?:loading: (churn_[a-z_]+):1|TRITONBACKEND_ModelInstanceInitialize: (churn_[a-z_]+)_0_0 |successfully loaded '(churn_[a-z_]+)')`)

// loadPhases splits each churn load in Triton's log into the time from
// "loading:" to the Python backend's ModelInstanceInitialize (model-level
// set-up: with auto-complete on, a stub process is started for
// auto_complete_config, health-checked and stopped) and from there to
// "successfully loaded" (the instance's stub and model.py initialize).
func loadPhases(log []byte) (stubStart, modelInit []time.Duration) {
	loading, inst := map[string]time.Time{}, map[string]time.Time{}
	for _, m := range logLine.FindAllSubmatch(log, -1) {
		at, err := time.Parse("0102 15:04:05.000000", string(m[1]))
		if err != nil {
			continue
		}
		switch {
		case len(m[2]) > 0:
			loading[string(m[2])] = at
		case len(m[3]) > 0:
			if t, ok := loading[string(m[3])]; ok {
				inst[string(m[3])] = at
				stubStart = append(stubStart, at.Sub(t))
			}
		case len(m[4]) > 0:
			if t, ok := inst[string(m[4])]; ok {
				modelInit = append(modelInit, at.Sub(t))
			}
			delete(loading, string(m[4]))
			delete(inst, string(m[4]))
		}
	}
	return stubStart, modelInit
}

func run(out string, warmN, rounds, during, burst, same int, quiet time.Duration, tritonLog string, bare int) error {
	ctx := context.Background()
	t0 := time.Now()
	pipelines, err := os.MkdirTemp("", "baton-groupcold-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(pipelines)
	if err := os.WriteFile(filepath.Join(pipelines, "direct.yaml"), []byte(pipelineSpec), 0o644); err != nil {
		return err
	}
	env, err := scenario.Start(ctx, scenario.Options{PipelinesDir: pipelines})
	if err != nil {
		return err
	}
	defer env.Stop()
	b := &bench{url: "http://" + env.BatonHTTP, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 3 * time.Minute}, logPath: env.Triton.LogPath}
	r := &results{tritonVersion: env.Triton.Version, commit: env.BatonCommit, start: time.Now()}

	// The prewarm member loads in the background at start-up.
	for {
		v, err := b.view()
		if err == nil && slices.Contains(v.loaded(), warm) {
			break
		}
		if time.Since(t0) > 2*time.Minute {
			return fmt.Errorf("%s never prewarmed (last view error: %v)", warm, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.prewarm = time.Since(t0)

	// 1. Warm baseline.
	for range 20 {
		if c := b.infer(ctx, warm); !c.ok() {
			return fmt.Errorf("warm-up %s: %d %s", warm, c.status, c.err)
		}
	}
	before, err := b.counters()
	if err != nil {
		return err
	}
	for range warmN {
		r.warm = append(r.warm, b.infer(ctx, warm))
	}
	after, err := b.counters()
	if err != nil {
		return err
	}
	r.warmDelta = after.sub(before)
	log.Printf("warm: %d requests, p50 %v p99 %v, hits %.0f cold %.0f", len(r.warm), harness.PercentileOf(lats(r.warm), 50), harness.PercentileOf(lats(r.warm), 99), r.warmDelta.hit, r.warmDelta.cold)

	// 2. Sequential colds, cycling through the other members.
	var others []string
	for _, reg := range regions {
		if m := "churn_" + reg; m != warm {
			others = append(others, m)
		}
	}
	coldStart, _ := b.counters()
	for round := range rounds {
		for _, m := range others {
			bc, err := b.counters()
			if err != nil {
				return err
			}
			c := b.infer(ctx, m)
			ac, err := b.counters()
			if err != nil {
				return err
			}
			d := ac.sub(bc)
			s := coldSample{call: c, cold: d.cold == 1, load: time.Duration(d.loadSeconds * float64(time.Second)), evictions: int(d.evictions)}
			r.cold = append(r.cold, s)
			log.Printf("round %d %-18s %4d %8v cold=%v load %v evictions %d %s", round+1, m, c.status, c.lat.Round(time.Millisecond), s.cold, s.load.Round(time.Millisecond), s.evictions, c.err)
		}
	}
	coldEnd, _ := b.counters()
	r.coldDelta = coldEnd.sub(coldStart)

	// 3. Warm latency while cold loads run back to back, after the same
	// closed loop with nothing else running.
	{
		if err := b.ensureLoaded(ctx, warm); err != nil {
			return err
		}
		r.quietFor = quiet
		for end := time.Now().Add(quiet); time.Now().Before(end); {
			r.quiet = append(r.quiet, b.infer(ctx, warm))
		}
		v, err := b.view()
		if err != nil {
			return err
		}
		loadedNow := v.loaded()
		var queue []string // members not loaded first, in cycle order
		for i := 0; len(queue) < during; i++ {
			m := others[i%len(others)]
			if i < len(others) && slices.Contains(loadedNow, m) {
				continue
			}
			queue = append(queue, m)
		}
		bc, _ := b.counters()
		since := time.Now()
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				r.during = append(r.during, b.infer(ctx, warm))
			}
		})
		time.Sleep(500 * time.Millisecond) // the warm client is running first
		for _, m := range queue {
			r.duringCold = append(r.duringCold, b.infer(ctx, m))
		}
		close(done)
		wg.Wait()
		ac, _ := b.counters()
		r.duringDelta = ac.sub(bc)
		v, _ = b.view()
		r.duringWarmGone = v.evictedSince(warm, since)
		log.Printf("warm during %d colds: %d requests, p50 %v p99 %v; warm evicted %d times", len(queue), len(r.during), harness.PercentileOf(lats(r.during), 50), harness.PercentileOf(lats(r.during), 99), r.duringWarmGone)
	}

	// 4a. Bursts: each request to a different cold member, first with the
	// warm member idle, then with a client sending to it in a loop.
	for _, withWarm := range []bool{false, true} {
		if err := b.ensureLoaded(ctx, warm); err != nil {
			return err
		}
		v, err := b.view()
		if err != nil {
			return err
		}
		var targets []string
		for _, m := range others {
			if !slices.Contains(v.loaded(), m) && len(targets) < burst {
				targets = append(targets, m)
			}
		}
		name := fmt.Sprintf("%d concurrent, each to a different cold member", len(targets))
		if withWarm {
			name += fmt.Sprintf("; a client sends to %s in a loop meanwhile", warm)
		}
		r.bursts = append(r.bursts, b.burst(ctx, name, targets, withWarm))
		time.Sleep(time.Second) // let unloads started by the burst settle
	}
	// 4b. Burst: all to one cold member.
	{
		v, err := b.view()
		if err != nil {
			return err
		}
		target := ""
		for _, m := range others {
			if !slices.Contains(v.loaded(), m) {
				target = m
				break
			}
		}
		if target == "" {
			return errors.New("no cold member left for the same-member burst")
		}
		targets := make([]string, same)
		for i := range targets {
			targets[i] = target
		}
		r.bursts = append(r.bursts, b.burst(ctx, fmt.Sprintf("%d concurrent to one cold member (%s)", same, target), targets, false))
	}
	if lb, err := os.ReadFile(b.logPath); err == nil {
		r.stubStart, r.modelInit = loadPhases(lb)
		if tritonLog != "" {
			_ = os.WriteFile(tritonLog, lb, 0o644)
		}
	}
	env.Stop()
	// 5. Triton alone: the same member loaded (with Baton's config
	// override) and unloaded, with Triton's default auto-complete and
	// without it.
	if bare > 0 {
		for _, extra := range [][]string{nil, {"--disable-auto-complete-config"}} {
			bt, err := bareTriton(ctx, extra, bare)
			if err != nil {
				return fmt.Errorf("bare tritonserver %v: %w", extra, err)
			}
			log.Printf("bare tritonserver %v: load %v unload %v", extra, bt.load, bt.unload)
			r.bare = append(r.bare, bt)
		}
	}
	r.total = time.Since(t0)
	r.leftover = leftovers()
	return os.WriteFile(out, report(r, rounds, during), 0o644)
}

// ensureLoaded sends requests to model until one is a hit.
func (b *bench) ensureLoaded(ctx context.Context, model string) error {
	for range 5 {
		bc, err := b.counters()
		if err != nil {
			return err
		}
		if c := b.infer(ctx, model); !c.ok() {
			time.Sleep(time.Second)
			continue
		}
		ac, err := b.counters()
		if err != nil {
			return err
		}
		if ac.sub(bc).hit == 1 {
			return nil
		}
	}
	return fmt.Errorf("%s does not stay loaded", model)
}

func (b *bench) burst(ctx context.Context, name string, targets []string, withWarm bool) burstResult {
	res := burstResult{name: name}
	distinct := map[string]bool{}
	for _, t := range targets {
		distinct[t] = true
	}
	res.models = len(distinct)
	done := make(chan struct{})
	var warmWG sync.WaitGroup
	if withWarm {
		warmWG.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				c := b.infer(ctx, warm)
				res.warmCalls = append(res.warmCalls, c)
				if !c.ok() {
					time.Sleep(10 * time.Millisecond) // do not spin on fast failures
				}
			}
		})
		time.Sleep(500 * time.Millisecond)
	}
	bc, _ := b.counters()
	logFrom := 0
	if lb, err := os.ReadFile(b.logPath); err == nil {
		logFrom = len(lb)
	}
	since := time.Now()
	calls := make([]call, len(targets))
	var ready, wg sync.WaitGroup
	gate := make(chan struct{})
	for i, t := range targets {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-gate
			calls[i] = b.infer(ctx, t)
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(gate)
	wg.Wait()
	res.wall = time.Since(t0)
	res.calls = calls
	close(done)
	warmWG.Wait()
	ac, _ := b.counters()
	res.delta = ac.sub(bc)
	v, _ := b.view()
	res.warmGone = v.evictedSince(warm, since)
	res.loadedEnd = v.loaded()
	if lb, err := os.ReadFile(b.logPath); err == nil && len(lb) >= logFrom {
		n := map[string]int{}
		for _, m := range tritonLoading.FindAllSubmatch(lb[logFrom:], -1) {
			n[string(m[1])]++
		}
		for m, k := range n {
			if k > 1 {
				res.reloaded = append(res.reloaded, fmt.Sprintf("%s ×%d", m, k))
			}
		}
		slices.Sort(res.reloaded)
	}
	ok := 0
	for _, c := range calls {
		if c.ok() {
			ok++
		}
	}
	log.Printf("burst %s: wall %v, ok %d/%d, loads %.0f (Triton log %d), evictions %.0f, warm evicted %d, loaded more than once: %v", name, res.wall.Round(time.Millisecond), ok, len(calls), res.delta.loads, res.delta.tritonLoads, res.delta.evictions, res.warmGone, res.reloaded)
	if withWarm {
		wl := lats(res.warmCalls)
		log.Printf("  warm client: %d requests, %d failed, p50 %v p99 %v max %v", len(res.warmCalls), errCount(res.warmCalls), harness.PercentileOf(wl, 50), harness.PercentileOf(wl, 99), harness.PercentileOf(wl, 100))
		for _, c := range res.warmCalls {
			if !c.ok() {
				log.Printf("  warm %d %s", c.status, c.err)
				break
			}
		}
	}
	for _, c := range calls {
		if !c.ok() {
			log.Printf("  %s: %d %s", c.model, c.status, c.err)
		}
	}
	return res
}

// leftovers lists this process's tritonservers' shared-memory regions and
// Python stubs still around after Stop (both should be gone).
func leftovers() string {
	var left []string
	time.Sleep(500 * time.Millisecond)
	shm, _ := filepath.Glob(fmt.Sprintf("/dev/shm/baton-%d-*", os.Getpid()))
	if len(shm) > 0 {
		left = append(left, fmt.Sprintf("%d /dev/shm/baton-%d-* files", len(shm), os.Getpid()))
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmd, err := os.ReadFile(p)
		if err == nil && bytes.Contains(cmd, []byte(fmt.Sprintf("baton-%d-", os.Getpid()))) {
			left = append(left, "process "+filepath.Base(filepath.Dir(p)))
		}
	}
	if len(left) == 0 {
		return "none"
	}
	return strings.Join(left, ", ")
}

func lats(cs []call) []time.Duration {
	var out []time.Duration
	for _, c := range cs {
		if c.ok() {
			out = append(out, c.lat)
		}
	}
	return out
}

func errCount(cs []call) int {
	n := 0
	for _, c := range cs {
		if !c.ok() {
			n++
		}
	}
	return n
}

func ratio(a, b time.Duration) string {
	if b == 0 || a == 0 {
		return "–"
	}
	x := float64(a) / float64(b)
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func report(r *results, rounds, during int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Multi-model group: cold start vs warm (real Triton)\n\n")
	fmt.Fprintf(&b, "- Date: %s; machine: %s; load average at the end %s. One tritonserver (and its Python stubs), `baton serve` and the client share the host, and other work may have run on it at the same time: read ratios, not absolute numbers.\n", r.start.UTC().Format("2006-01-02 15:04 MST"), harness.ThisMachine(), scenario.LoadAverage())
	fmt.Fprintf(&b, "- Versions: tritonserver %s (Python backend), `baton serve` built from %s, %s\n", r.tritonVersion, r.commit, runtime.Version())
	fmt.Fprintf(&b, "- Setup: the repository's group `churn` (`deploy/local/groups/churn.yaml`: members `churn_*`, 12 in `model_repository`, budget 512MiB, maxLoaded 4, cost-aware, prewarm %s, maxConcurrentLoads 1) and the manager's default load rate limit (4 loads/s, burst 4); a one-stage pipeline `direct` whose only stage is the group, so a request's latency is that stage; HTTP/JSON, one 7-feature row per request, the member named by `X-Baton-Target-Model`\n", warm)
	fmt.Fprintf(&b, "- Command: `%s`\n", strings.Join(append([]string{"go", "run", "./benchmarks/groupcold"}, os.Args[1:]...), " "))
	fmt.Fprintf(&b, "- Whole run %s (%s of it to build baton, start tritonserver and `baton serve`, and prewarm %s); tritonserver/stub processes and /dev/shm regions left after Stop: %s\n\n", r.total.Round(time.Second), r.prewarm.Round(100*time.Millisecond), warm, r.leftover)

	wl := lats(r.warm)
	w50, w90, w99 := harness.PercentileOf(wl, 50), harness.PercentileOf(wl, 90), harness.PercentileOf(wl, 99)
	fmt.Fprintf(&b, "Baseline: %d sequential requests to %s while it is loaded (after 20 unmeasured): p50 %s, p90 %s, p99 %s; the group counted %.0f hits and %.0f colds for them. Ratios are against this baseline: p50 × warm p50, p90 × warm p90, p99 × warm p99, max × warm p99.\n\n", len(wl), warm, ms(w50), ms(w90), ms(w99), r.warmDelta.hit, r.warmDelta.cold)

	var coldLat, freeLat, freeRest, evictLat, evictLoad, evictRest []time.Duration
	hits, fails := 0, 0
	for _, s := range r.cold {
		switch {
		case !s.ok():
			fails++
		case !s.cold:
			hits++
		default:
			coldLat = append(coldLat, s.lat)
			if s.evictions == 0 {
				freeLat = append(freeLat, s.lat)
				freeRest = append(freeRest, s.lat-s.load)
			} else {
				evictLat = append(evictLat, s.lat)
				evictLoad = append(evictLoad, s.load)
				evictRest = append(evictRest, s.lat-s.load)
			}
		}
	}
	fmt.Fprintf(&b, "## Sequential\n\n")
	fmt.Fprintf(&b, "| measurement | n | p50 | p90 | p99 | max | p50 × warm | p90 × warm | p99 × warm | max × warm p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, ds []time.Duration) {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, len(ds), ms(harness.PercentileOf(ds, 50)), ms(harness.PercentileOf(ds, 90)), ms(harness.PercentileOf(ds, 99)), ms(harness.PercentileOf(ds, 100)),
			ratio(harness.PercentileOf(ds, 50), w50), ratio(harness.PercentileOf(ds, 90), w90), ratio(harness.PercentileOf(ds, 99), w99), ratio(harness.PercentileOf(ds, 100), w99))
	}
	row("**warm hit, quiet (baseline)**", wl)
	row("**cold**: first request to a member not loaded, all", coldLat)
	row("… cold into a free slot (no eviction)", freeLat)
	row("… cold that first evicts a member (Triton unload, then load)", evictLat)
	row("… … of which the load step (`baton_group_cold_load_seconds`: Triton's load call, footprint measurement)", evictLoad)
	row("… … the rest: the victim's unload, routing, inference", evictRest)
	row(fmt.Sprintf("warm hit, quiet, closed loop for %s", r.quietFor), lats(r.quiet))
	row(fmt.Sprintf("warm hit, same loop while %d cold loads run back to back", len(r.duringCold)), lats(r.during))
	row("… those cold requests (a second client, one at a time)", lats(r.duringCold))
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(&b, "- Cold cycle: %d rounds over the %d other members in a fixed order, one request at a time: %d requests, %d cold (the group's `result=\"cold\"` counter moved for exactly that request), %d hits (member still loaded), %d failed. Meanwhile the group loaded %.0f times (Triton logged %d `loading: churn_*` and %d `successfully unloaded 'churn_*'`) and evicted %.0f times; mean Triton load call %s.\n",
		rounds, len(regions)-1, len(r.cold), len(coldLat), hits, fails, r.coldDelta.loads, r.coldDelta.tritonLoads, r.coldDelta.unload, r.coldDelta.evictions, ms(meanLoad(r.coldDelta)))
	q, d := lats(r.quiet), lats(r.during)
	fmt.Fprintf(&b, "- Warm during colds: a client sends to %s in a loop while a second client sends %d requests, one at a time, to members not loaded: %d warm requests (%d failed), the group loaded %.0f times meanwhile and evicted %s %d times. Against the quiet loop just before (%d requests): p50 × %s, p99 × %s, max × %s.\n\n",
		warm, during, len(r.during), errCount(r.during), r.duringDelta.loads, warm, r.duringWarmGone, len(q), ratio(harness.PercentileOf(d, 50), harness.PercentileOf(q, 50)), ratio(harness.PercentileOf(d, 99), harness.PercentileOf(q, 99)), ratio(harness.PercentileOf(d, 100), harness.PercentileOf(q, 100)))

	fmt.Fprintf(&b, "## Bursts\n\n")
	fmt.Fprintf(&b, "All requests released together; wall is until the last one completes. Loads: `baton_group_cold_load_seconds_count` delta / `loading: churn_*` lines in Triton's log.\n\n")
	fmt.Fprintf(&b, "| burst | ok / sent | wall | wall × warm p50 | ok latency p50 | max | p50 × warm | loads | evictions | %s evicted | failures |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n", warm)
	for _, br := range r.bursts {
		l := lats(br.calls)
		fmt.Fprintf(&b, "| %s | %d / %d | %s | %s | %s | %s | %s | %.0f / %d | %.0f | %d | %s |\n", br.name, len(l), len(br.calls), ms(br.wall), ratio(br.wall, w50), ms(harness.PercentileOf(l, 50)), ms(harness.PercentileOf(l, 100)), ratio(harness.PercentileOf(l, 50), w50),
			br.delta.loads, br.delta.tritonLoads, br.delta.evictions, br.warmGone, errorSummary(br.calls))
	}
	fmt.Fprintf(&b, "\n")
	for _, br := range r.bursts {
		if br.models > 1 {
			again := "none"
			if len(br.reloaded) > 0 {
				again = strings.Join(br.reloaded, ", ")
			}
			fmt.Fprintf(&b, "- %s: ok latencies, sorted: %s; Triton loaded more than once: %s; loaded at the end: %s\n", br.name, sortedList(lats(br.calls)), again, strings.Join(br.loadedEnd, ", "))
		}
		if len(br.warmCalls) > 0 {
			wc := lats(br.warmCalls)
			var slow []string
			for _, d := range wc {
				if d > 100*time.Millisecond {
					slow = append(slow, ms(d))
				}
			}
			fmt.Fprintf(&b, "- The client on %s during that burst: %d requests, %d failed (%s); ok ones p50 %s (× quiet loop %s), p99 %s (× %s), max %s; over 100 ms: %d (%s).\n", warm, len(br.warmCalls), errCount(br.warmCalls), errorSummary(br.warmCalls),
				ms(harness.PercentileOf(wc, 50)), ratio(harness.PercentileOf(wc, 50), harness.PercentileOf(q, 50)), ms(harness.PercentileOf(wc, 99)), ratio(harness.PercentileOf(wc, 99), harness.PercentileOf(q, 99)), ms(harness.PercentileOf(wc, 100)), len(slow), strings.Join(slow, ", "))
		}
	}

	if len(r.bare) > 0 {
		fmt.Fprintf(&b, "\n## Triton alone\n\n")
		fmt.Fprintf(&b, "After Baton's run, a bare tritonserver per row (same binary, repository and flags as above, plus the row's): %d load/unload pairs of %s through its gRPC repository API, the load with the config override Baton's loader sends, the unload waited for until Triton reports the model gone (as Baton does before it loads into the freed room).\n\n", len(r.bare[0].load), bareModel)
		fmt.Fprintf(&b, "| tritonserver flags | load p50 | load max | unload p50 | unload max | load p50 × warm p50 |\n|---|---:|---:|---:|---:|---:|\n")
		for _, bt := range r.bare {
			flags := "defaults (auto-complete on)"
			if len(bt.args) > 0 {
				flags = "`" + strings.Join(bt.args, " ") + "`"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", flags, ms(harness.PercentileOf(bt.load, 50)), ms(harness.PercentileOf(bt.load, 100)), ms(harness.PercentileOf(bt.unload, 50)), ms(harness.PercentileOf(bt.unload, 100)), ratio(harness.PercentileOf(bt.load, 50), w50))
		}
	}

	fmt.Fprintf(&b, "\n## Reading\n\n")
	fmt.Fprintf(&b, "- A cold request costs %s× a warm one at p50 (%s vs %s), and almost all of it is Triton's Python backend. A member that fits in a free slot costs one load (%s; the rest — routing, admission, the first inference on the fresh stub — %s); once the group is full every cold evicts first, and Baton waits for the victim's unload to finish before it loads (so the freed memory is real): p50 %s = unload ~%s + load %s.\n",
		ratio(harness.PercentileOf(coldLat, 50), w50), ms(harness.PercentileOf(coldLat, 50)), ms(w50), ms(harness.PercentileOf(freeLat, 50)), ms(harness.PercentileOf(freeRest, 50)), ms(harness.PercentileOf(evictLat, 50)), ms(harness.PercentileOf(evictRest, 50)), ms(harness.PercentileOf(evictLoad, 50)))
	fmt.Fprintf(&b, "- Triton's log splits each load: %s (p50 of %d) from `loading:` to the backend's `ModelInstanceInitialize`, then %s until `successfully loaded`. The first part is the model-level set-up: with Triton's default auto-complete it starts a stub process for `auto_complete_config`, checks its health and stops it, and the Python backend's `StubLauncher::UpdateHealth` sleeps 1 s in that check (about 1.2 s per load); Baton's local fleet runs tritonserver with `--disable-auto-complete-config` (its configs are complete, and the loader sends complete configs), which skips it. The same 1 s sleep still runs when an instance is destroyed on unload, so the eviction part of the %s cold path is mostly that sleep.", ms(harness.PercentileOf(r.stubStart, 50)), len(r.stubStart), ms(harness.PercentileOf(r.modelInit, 50)), ms(harness.PercentileOf(evictLat, 50)))
	if len(r.bare) == 2 {
		fmt.Fprintf(&b, " On a bare tritonserver, `--disable-auto-complete-config` takes the load from %s to %s; the unload stays at %s.", ms(harness.PercentileOf(r.bare[0].load, 50)), ms(harness.PercentileOf(r.bare[1].load, 50)), ms(harness.PercentileOf(r.bare[1].unload, 50)))
	}
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(&b, "- Loads and unloads running back to back (one cold request at a time) leave a warm member's median where it was and stretch its tail: against the quiet loop p50 × %s, p99 × %s, max %s, %d failures; cost-aware eviction never chose it (%d evictions of %s).\n", ratio(harness.PercentileOf(d, 50), harness.PercentileOf(q, 50)), ratio(harness.PercentileOf(d, 99), harness.PercentileOf(q, 99)), ms(harness.PercentileOf(d, 100)), errCount(r.during), r.duringWarmGone, warm)
	for _, br := range r.bursts {
		l := lats(br.calls)
		switch {
		case br.models == 1:
			fmt.Fprintf(&b, "- %d concurrent requests for one cold member share a single Triton load (%.0f in the metric, %d in Triton's log): all finish together in %s, × %s the sequential cold p50.\n", len(br.calls), br.delta.loads, br.delta.tritonLoads, ms(br.wall), ratio(br.wall, harness.PercentileOf(evictLat, 50)))
		case len(br.warmCalls) == 0:
			fmt.Fprintf(&b, "- %d concurrent requests for different cold members are served one load at a time (maxConcurrentLoads 1 per instance; the 4 loads/s rate limit never binds, since each cold here is a victim's unload plus a load, well over 0.25 s): the last finished after %s (× %s the sequential cold p50; the sorted latencies step by about one load), and Triton loaded %.0f times for %d members",
				len(br.calls), ms(harness.PercentileOf(l, 100)), ratio(harness.PercentileOf(l, 100), harness.PercentileOf(evictLat, 50)), br.delta.loads, br.models)
			if len(br.reloaded) > 0 {
				fmt.Fprintf(&b, " (%s: loaded, then evicted before the request waiting for it got to it)", strings.Join(br.reloaded, ", "))
			}
			if br.warmGone > 0 {
				fmt.Fprintf(&b, ". %s was evicted too, whatever its cost-aware value: the burst's reservations are admitted at once and pin every slot while they wait for the one load slot, so the idle hot member is the only victim left", warm)
			}
			fmt.Fprintf(&b, ".\n")
		default:
			wc := lats(br.warmCalls)
			if br.warmGone == 0 {
				fmt.Fprintf(&b, "- With a client sending to %s throughout such a burst, %s was never evicted: each cold load takes its instance's load slot before choosing a victim, so the policy picks one victim per turn among the members, and the hot one ranks highest. That client's worst request took %s (%d of its %d requests over 100 ms, %d failed; Triton loaded %.0f times for the %d burst members).\n", warm, warm, ms(harness.PercentileOf(wc, 100)), countOver(wc, 100*time.Millisecond), len(wc), errCount(br.warmCalls), br.delta.loads, br.models)
				continue
			}
			fmt.Fprintf(&b, "- With a client sending to %s throughout such a burst, %s was still evicted (%d×; a reservation waiting for room takes it in a gap between two of its requests) and that client stalled for up to %s while the member queued for its reload behind the burst's loads (%d of its %d requests over 100 ms, %d failed; Triton loaded %.0f times in all for the %d burst members and %s).\n", warm, warm, br.warmGone, ms(harness.PercentileOf(wc, 100)), countOver(wc, 100*time.Millisecond), len(wc), errCount(br.warmCalls), br.delta.loads, br.models, warm)
		}
	}
	fmt.Fprintf(&b, "- Noise: a 2-core shared VM with other work running; the loop rows and the bursts move by tens of percent between runs, the load and unload times (dominated by the fixed 1 s sleeps) by a few percent.\n")
	return []byte(b.String())
}

func countOver(ds []time.Duration, limit time.Duration) int {
	n := 0
	for _, d := range ds {
		if d > limit {
			n++
		}
	}
	return n
}

func meanLoad(c counters) time.Duration {
	if c.loads == 0 {
		return 0
	}
	return time.Duration(c.loadSeconds / c.loads * float64(time.Second))
}

func sortedList(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	var parts []string
	for _, d := range s {
		parts = append(parts, ms(d))
	}
	return strings.Join(parts, ", ")
}

// errorSummary counts failed requests by status and the start of the body.
func errorSummary(cs []call) string {
	counts := map[string]int{}
	for _, c := range cs {
		if c.ok() {
			continue
		}
		msg := memberName.ReplaceAllString(c.err, "churn_*")
		msg = strings.TrimSuffix(strings.TrimPrefix(msg, `{"error":"`), `"}`)
		msg = strings.ReplaceAll(msg, `\"`, `"`)
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		counts[fmt.Sprintf("%d `%s`", c.status, strings.ReplaceAll(msg, "|", "\\|"))]++
	}
	if len(counts) == 0 {
		return "none"
	}
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%d× %s", n, k))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}
