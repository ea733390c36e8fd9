// Package fleet knows Baton's Triton instances: it reads the fleet file,
// keeps one tritonclient.Client per instance, polls each instance's
// readiness and repository index, and routes a stage to the first healthy
// instance that holds its model. It is the seam the placement package will
// replace: the executor only sees the Router interface.
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/telemetry"
	"github.com/batonhq/baton/tritonclient"
)

// ErrNoInstance means no healthy instance serves the model now.
var ErrNoInstance = errors.New("no healthy instance serves the model")

// File is the fleet file: the Triton instances Baton may use.
type File struct {
	Instances []InstanceSpec `json:"instances"`
}

// InstanceSpec describes one Triton instance.
type InstanceSpec struct {
	Name string `json:"name"`
	// GRPC is host:port of Triton's gRPC endpoint (required).
	GRPC string `json:"grpc"`
	// HTTP and Metrics are host:port of the other endpoints (optional).
	HTTP    string `json:"http,omitempty"`
	Metrics string `json:"metrics,omitempty"`
	// Kind is cpu or gpu.
	Kind string `json:"kind"`
	// GPU is the device index for gpu instances.
	GPU int `json:"gpu,omitempty"`
	// GPUUUID is the device's NVML uuid, when known.
	GPUUUID string `json:"gpuUUID,omitempty"`
	// Node and Agent locate the node's telemetry agent.
	Node   string            `json:"node,omitempty"`
	Agent  string            `json:"agent,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// ParseFile reads a fleet file (YAML or JSON) and checks it.
func ParseFile(doc []byte) (*File, error) {
	// YAML 1.2 (a label value "on" stays a string), then strict JSON
	// decoding so a misspelt key is an error.
	var tree any
	if err := yaml.Unmarshal(doc, &tree); err != nil {
		return nil, fmt.Errorf("fleet file: %w", err)
	}
	js, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("fleet file: %w", err)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("fleet file: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, in := range f.Instances {
		switch {
		case in.Name == "":
			errs = append(errs, fmt.Errorf("instances[%d].name: required", i))
		case seen[in.Name]:
			errs = append(errs, fmt.Errorf("instances[%d].name: %q used twice", i, in.Name))
		}
		seen[in.Name] = true
		if in.GRPC == "" {
			errs = append(errs, fmt.Errorf("instances[%d].grpc: required", i))
		}
		if in.Kind != "cpu" && in.Kind != "gpu" {
			errs = append(errs, fmt.Errorf("instances[%d].kind: %q, want cpu or gpu", i, in.Kind))
		}
	}
	if len(f.Instances) == 0 {
		errs = append(errs, errors.New("instances: none listed"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fleet file: %w", err)
	}
	return &f, nil
}

// LoadFile reads and parses the fleet file at path.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFile(b)
}

// Instance is one Triton instance with its client and last known state.
type Instance struct {
	Spec   InstanceSpec
	Client *tritonclient.Client

	mu      sync.RWMutex
	healthy bool
	models  map[string]bool // ready models
	checked time.Time
	lastErr error
	// inflight counts calls per model now running on this instance.
	inflight map[string]*atomic.Int64
	// node is the last snapshot from the node's agent (nil: none yet) and
	// nodeAt when it was fetched; metrics is the last Triton scrape.
	node    *telemetry.Snapshot
	nodeAt  time.Time
	metrics *tritonclient.Metrics
}

// Telemetry is an instance's last known telemetry.
type Telemetry struct {
	// Node is the agent's snapshot (nil when the instance has no agent or
	// none answered yet); FetchedAt is when Baton got it.
	Node      *telemetry.Snapshot
	FetchedAt time.Time
	// Triton is the last scrape of the instance's metrics page (nil if none).
	Triton *tritonclient.Metrics
}

// Telemetry returns the instance's last telemetry.
func (in *Instance) Telemetry() Telemetry {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return Telemetry{Node: in.node, FetchedAt: in.nodeAt, Triton: in.metrics}
}

// GPU returns the agent's view of the instance's GPU (by UUID when the
// fleet file gives one, else by index), if any.
func (t Telemetry) GPU(spec InstanceSpec) (telemetry.GPU, bool) {
	if t.Node == nil || spec.Kind != "gpu" {
		return telemetry.GPU{}, false
	}
	for _, g := range t.Node.GPUs {
		if (spec.GPUUUID != "" && g.UUID == spec.GPUUUID) || (spec.GPUUUID == "" && g.Index == spec.GPU) {
			return g, true
		}
	}
	return telemetry.GPU{}, false
}

// Healthy reports the last health verdict.
func (in *Instance) Healthy() bool {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.healthy
}

// HasModel reports whether the last index poll saw model ready.
func (in *Instance) HasModel(model string) bool {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.models[model]
}

// State is a snapshot of an instance for the admin API.
type State struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	GRPC    string    `json:"grpc"`
	Healthy bool      `json:"healthy"`
	Models  []string  `json:"models"`
	Checked time.Time `json:"checked"`
	Error   string    `json:"error,omitempty"`
	// Telemetry, when an agent or metrics page answered.
	GPU            *telemetry.GPU  `json:"gpu,omitempty"`
	Host           *telemetry.Host `json:"host,omitempty"`
	SimulatedGPU   bool            `json:"simulatedGPU,omitempty"`
	TelemetryAt    time.Time       `json:"telemetryAt,omitzero"`
	PendingByModel map[string]int  `json:"pendingByModel,omitempty"`
}

// State returns the instance's current state.
func (in *Instance) State() State {
	in.mu.RLock()
	defer in.mu.RUnlock()
	s := State{Name: in.Spec.Name, Kind: in.Spec.Kind, GRPC: in.Spec.GRPC, Healthy: in.healthy, Checked: in.checked}
	for m := range in.models {
		s.Models = append(s.Models, m)
	}
	slices.Sort(s.Models)
	if in.lastErr != nil {
		s.Error = in.lastErr.Error()
	}
	if in.node != nil {
		host := in.node.Host
		s.Host, s.TelemetryAt, s.SimulatedGPU = &host, in.nodeAt, in.node.Simulated
		if g, ok := (Telemetry{Node: in.node}).GPU(in.Spec); ok {
			s.GPU = &g
		}
	}
	if in.metrics != nil {
		for _, m := range in.metrics.Models {
			if m.PendingRequests > 0 {
				if s.PendingByModel == nil {
					s.PendingByModel = map[string]int{}
				}
				s.PendingByModel[m.Model] += int(m.PendingRequests)
			}
		}
	}
	return s
}

// Fleet is the set of instances with their clients.
type Fleet struct {
	imu       sync.RWMutex // guards instances (Reload swaps it)
	instances []*Instance
	clientOpt tritonclient.Options
	retired   sync.WaitGroup // clients of removed instances, closing
	logger    *slog.Logger
	interval  time.Duration

	amu         sync.RWMutex
	assignments map[string]string // pipeline\x00stage → instance

	hc *http.Client // agents and metrics pages

	changed   chan struct{} // see Changed
	lastPrint atomic.Uint64
}

// Options tunes a Fleet.
type Options struct {
	// PollInterval is how often health and index are polled (default 2s).
	PollInterval time.Duration
	// Client options for every instance (Name is set per instance).
	Client tritonclient.Options
	Logger *slog.Logger
}

// New creates clients for every instance in file; it does no I/O.
func New(file *File, opts Options) (*Fleet, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	f := &Fleet{logger: logger, interval: opts.PollInterval, assignments: map[string]string{}, hc: &http.Client{Timeout: 5 * time.Second}, clientOpt: opts.Client, changed: make(chan struct{}, 1)}
	for _, spec := range file.Instances {
		co := opts.Client
		co.Name = spec.Name
		c, err := tritonclient.New(spec.GRPC, co)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.instances = append(f.instances, newInstance(spec, c))
	}
	return f, nil
}

// Instances lists the instances in fleet-file order. The slice is shared
// and must not be modified: Reload builds a new one rather than changing it,
// so a caller may keep iterating it without a lock or a copy (routing calls
// this on every stage call).
func (f *Fleet) Instances() []*Instance {
	f.imu.RLock()
	defer f.imu.RUnlock()
	return f.instances
}

// Instance returns the instance called name.
func (f *Fleet) Instance(name string) (*Instance, bool) {
	ins := f.Instances()
	i := slices.IndexFunc(ins, func(in *Instance) bool { return in.Spec.Name == name })
	if i < 0 {
		return nil, false
	}
	return ins[i], true
}

// Refresh polls every instance once, concurrently: ServerReady, then the
// repository index of ready models.
func (f *Fleet) Refresh(ctx context.Context) {
	var wg sync.WaitGroup
	for _, in := range f.Instances() {
		wg.Go(func() { f.refreshOne(ctx, in) })
	}
	// One fetch per agent, shared by the instances of its node.
	agents := map[string][]*Instance{}
	for _, in := range f.Instances() {
		if in.Spec.Agent != "" {
			agents[in.Spec.Agent] = append(agents[in.Spec.Agent], in)
		}
	}
	for addr, ins := range agents {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			snap, err := telemetry.Fetch(actx, f.hc, addr)
			if err != nil {
				f.logger.Debug("agent unreachable", "agent", addr, "err", err)
				return // the old snapshot ages and placement sees it go stale
			}
			now := time.Now()
			for _, in := range ins {
				in.mu.Lock()
				in.node, in.nodeAt = &snap, now
				in.mu.Unlock()
			}
		})
	}
	for _, in := range f.Instances() {
		if in.Spec.Metrics == "" {
			continue
		}
		wg.Go(func() {
			mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			m, err := tritonclient.ScrapeMetrics(mctx, f.hc, in.Spec.Metrics)
			if err != nil {
				return
			}
			in.mu.Lock()
			in.metrics = m
			in.mu.Unlock()
		})
	}
	wg.Wait()
	if fp := f.fingerprint(); fp != f.lastPrint.Swap(fp) {
		select { // a buffered slot: one pending signal is enough
		case f.changed <- struct{}{}:
		default:
		}
	}
}

// Changed signals after a Refresh that saw the fleet change in a way that
// matters to placement: health, loaded models, or GPU/host memory and
// utilization moving by more than a few percent.
func (f *Fleet) Changed() <-chan struct{} { return f.changed }

// fingerprint summarises what placement reads, coarsely (memory in 2%
// steps, utilization in 5% steps) so that noise does not trigger a re-plan.
func (f *Fleet) fingerprint() uint64 {
	h := fnv.New64a()
	for _, in := range f.Instances() {
		st := in.State()
		fmt.Fprintf(h, "%s|%t|%v|", st.Name, st.Healthy, st.Models)
		if st.GPU != nil && st.GPU.MemoryTotalBytes > 0 {
			fmt.Fprintf(h, "g%d|u%d|", st.GPU.MemoryUsedBytes*50/st.GPU.MemoryTotalBytes, int(st.GPU.Utilization*20))
		}
		if st.Host != nil && st.Host.MemoryTotalBytes > 0 {
			fmt.Fprintf(h, "h%d|c%d|", st.Host.MemoryAvailableBytes*50/st.Host.MemoryTotalBytes, int(st.Host.CPUUtilization*20))
		}
	}
	return h.Sum64()
}

func (f *Fleet) refreshOne(ctx context.Context, in *Instance) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Liveness, not readiness: with Triton's default strict readiness a
	// server is "not ready" while any model loads or after any model failed
	// to load, which says nothing about the models it does serve (the index
	// says that). Baton loading one group member must not take the whole
	// instance out of routing.
	ready, err := in.Client.ServerLive(ctx)
	var idx []tritonclient.ModelIndexEntry
	if err == nil && ready {
		idx, err = in.Client.RepositoryIndex(ctx, true)
	}
	models := map[string]bool{}
	for _, e := range idx {
		if e.State == tritonclient.StateReady {
			models[e.Name] = true
		}
	}
	healthy := err == nil && ready
	in.mu.Lock()
	was := in.healthy
	in.healthy, in.checked, in.lastErr = healthy, time.Now(), err
	if healthy {
		in.models = models
	}
	in.mu.Unlock()
	if was != healthy {
		f.logger.Info("instance health changed", "instance", in.Spec.Name, "healthy", healthy, "err", err)
	}
}

// Run polls until ctx ends.
func (f *Fleet) Run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		f.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// MarkUnhealthy records a failure seen by a caller (a refused connection),
// so requests stop going there until the next successful poll.
func (f *Fleet) MarkUnhealthy(name string, err error) {
	if in, ok := f.Instance(name); ok {
		in.mu.Lock()
		was := in.healthy
		in.healthy, in.lastErr = false, err
		in.mu.Unlock()
		if was {
			f.logger.Warn("instance marked unhealthy", "instance", name, "err", err)
		}
	}
}

// Pick returns the first healthy instance (in fleet-file order) that holds
// model and is not in exclude; ErrNoInstance otherwise.
func (f *Fleet) Pick(model string, exclude []string) (*Instance, error) {
	for _, in := range f.Instances() {
		if slices.Contains(exclude, in.Spec.Name) {
			continue
		}
		if in.Healthy() && in.HasModel(model) {
			return in, nil
		}
	}
	return nil, fmt.Errorf("model %q: %w", model, ErrNoInstance)
}

// States snapshots every instance.
func (f *Fleet) States() []State {
	ins := f.Instances()
	out := make([]State, len(ins))
	for i, in := range ins {
		out[i] = in.State()
	}
	return out
}

// Metadata asks the first healthy instance holding model for its metadata;
// it is a pipeline.MetadataSource. With no such instance it asks any healthy
// one so that "not found" can be told from "unreachable".
func (f *Fleet) Metadata(ctx context.Context, model, version string) (*tritonclient.ModelMetadata, error) {
	in, err := f.Pick(model, nil)
	if err != nil {
		for _, cand := range f.Instances() {
			if cand.Healthy() {
				in = cand
				break
			}
		}
		if in == nil {
			return nil, err
		}
	}
	return in.Client.ModelMetadata(ctx, model, version)
}

// Close closes every client.
func (f *Fleet) Close() {
	for _, in := range f.Instances() {
		in.Client.Close()
	}
	f.retired.Wait()
}

func newInstance(spec InstanceSpec, c *tritonclient.Client) *Instance {
	return &Instance{Spec: spec, Client: c, models: map[string]bool{}, inflight: map[string]*atomic.Int64{}}
}

// retireGrace bounds how long a removed instance's client stays open for
// calls already in flight.
const retireGrace = 30 * time.Second

// Reload replaces the fleet's instances with file's: an instance whose spec
// is unchanged keeps its client, health and models; a new or changed one
// gets a fresh client (healthy after the next poll); a removed or changed
// one stops receiving calls at once and its client closes when its calls in
// flight are done (or after 30s). It returns what changed.
func (f *Fleet) Reload(file *File) (added, removed []string, err error) {
	f.imu.Lock()
	old := map[string]*Instance{}
	for _, in := range f.instances {
		old[in.Spec.Name] = in
	}
	var next, fresh []*Instance
	for _, spec := range file.Instances {
		if in, ok := old[spec.Name]; ok && reflect.DeepEqual(in.Spec, spec) {
			next = append(next, in)
			delete(old, spec.Name)
			continue
		}
		co := f.clientOpt
		co.Name = spec.Name
		c, cerr := tritonclient.New(spec.GRPC, co)
		if cerr != nil { // keep the current fleet whole
			f.imu.Unlock()
			for _, in := range fresh {
				in.Client.Close()
			}
			return nil, nil, cerr
		}
		in := newInstance(spec, c)
		next, fresh = append(next, in), append(fresh, in)
		added = append(added, spec.Name)
	}
	f.instances = next
	f.imu.Unlock()
	for name, in := range old {
		if !slices.Contains(added, name) {
			removed = append(removed, name)
		}
		f.retired.Go(func() { f.retire(in) })
	}
	slices.Sort(removed)
	if len(added) > 0 || len(removed) > 0 {
		f.logger.Info("fleet reloaded", "added_or_changed", added, "removed", removed, "instances", len(next))
	}
	return added, removed, nil
}

// retire closes a removed instance's client once its calls are done.
func (f *Fleet) retire(in *Instance) {
	deadline := time.Now().Add(retireGrace)
	for time.Now().Before(deadline) && in.inflightTotal() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	in.Client.Close()
}

func (in *Instance) inflightTotal() int64 {
	in.mu.RLock()
	defer in.mu.RUnlock()
	var n int64
	for _, c := range in.inflight {
		n += c.Load()
	}
	return n
}

// WatchFile reloads the fleet from path whenever its modification time or
// size changes, checking every interval until ctx ends. A file that does
// not parse is logged and the current fleet kept.
func (f *Fleet) WatchFile(ctx context.Context, path string, interval time.Duration) {
	// The first tick always reloads: unchanged instances keep their state,
	// and a change made between the fleet's start and now is not missed.
	var lastMod time.Time
	var lastSize int64 = -1
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(path)
		if err != nil || (st.ModTime().Equal(lastMod) && st.Size() == lastSize) {
			continue
		}
		lastMod, lastSize = st.ModTime(), st.Size()
		file, err := LoadFile(path)
		if err != nil {
			f.logger.Error("fleet file changed but is invalid; keeping the current fleet", "path", path, "err", err)
			continue
		}
		if _, _, err := f.Reload(file); err != nil {
			f.logger.Error("fleet reload failed", "path", path, "err", err)
			continue
		}
		f.Refresh(ctx)
	}
}

// Route implements the executor's Router: the instance assigned to the
// stage (SetAssignment) while it is healthy and holds the model, else the
// first healthy instance holding the model; skipping exclude. The call is
// counted in flight on that instance until Done.
func (f *Fleet) Route(_ context.Context, t executor.Target, exclude []string) (executor.Route, error) {
	var in *Instance
	if name, ok := f.assignment(t.Pipeline, t.Stage); ok {
		if cand, ok := f.Instance(name); ok && !slices.Contains(exclude, name) && cand.Healthy() && cand.HasModel(t.Model) {
			in = cand
		}
	}
	if in == nil {
		var err error
		if in, err = f.Pick(t.Model, exclude); err != nil {
			return executor.Route{}, err
		}
	}
	n := in.inflightCounter(t.Model)
	n.Add(1)
	return executor.Route{Instance: in.Spec.Name, Client: in.Client, Done: func() { n.Add(-1) }}, nil
}

// SetAssignment routes a pipeline stage to instance (placement's choice);
// instance "" removes the assignment.
func (f *Fleet) SetAssignment(pipeline, stage, instance string) {
	f.amu.Lock()
	defer f.amu.Unlock()
	key := pipeline + "\x00" + stage
	if instance == "" {
		delete(f.assignments, key)
		return
	}
	f.assignments[key] = instance
}

func (f *Fleet) assignment(pipeline, stage string) (string, bool) {
	f.amu.RLock()
	defer f.amu.RUnlock()
	name, ok := f.assignments[pipeline+"\x00"+stage]
	return name, ok
}

// Track counts one call to model in flight on instance until the returned
// func is called (routers other than Route, such as the group manager, use
// it so the loader's drain sees their calls).
func (f *Fleet) Track(instance, model string) (done func()) {
	in, ok := f.Instance(instance)
	if !ok {
		return func() {}
	}
	n := in.inflightCounter(model)
	n.Add(1)
	return func() { n.Add(-1) }
}

// InFlight is how many calls to model are in flight on instance now.
func (f *Fleet) InFlight(instance, model string) int64 {
	in, ok := f.Instance(instance)
	if !ok {
		return 0
	}
	return in.inflightCounter(model).Load()
}

func (in *Instance) inflightCounter(model string) *atomic.Int64 {
	in.mu.RLock()
	n, ok := in.inflight[model]
	in.mu.RUnlock()
	if ok {
		return n
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if n, ok = in.inflight[model]; !ok {
		n = &atomic.Int64{}
		in.inflight[model] = n
	}
	return n
}

// ReportFailure implements the executor's Router: a call found the
// instance unreachable.
func (f *Fleet) ReportFailure(instance string, err error) { f.MarkUnhealthy(instance, err) }

// Client returns the client of instance.
func (f *Fleet) Client(instance string) (*tritonclient.Client, bool) {
	in, ok := f.Instance(instance)
	if !ok {
		return nil, false
	}
	return in.Client, true
}

// NoteLoaded records that model became ready on instance (a load Baton
// made), so routing sees it before the next poll.
func (f *Fleet) NoteLoaded(instance, model string) {
	if in, ok := f.Instance(instance); ok {
		in.mu.Lock()
		in.models[model] = true
		in.mu.Unlock()
	}
}

// NoteUnloaded records that model is gone from instance.
func (f *Fleet) NoteUnloaded(instance, model string) {
	if in, ok := f.Instance(instance); ok {
		in.mu.Lock()
		delete(in.models, model)
		in.mu.Unlock()
	}
}
