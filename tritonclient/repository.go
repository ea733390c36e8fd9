package tritonclient

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// ModelState is a model version's state in Triton's repository index.
type ModelState string

// The states Triton reports in its repository index.
const (
	StateUnknown     ModelState = "UNKNOWN"
	StateReady       ModelState = "READY"
	StateUnavailable ModelState = "UNAVAILABLE"
	StateLoading     ModelState = "LOADING"
	StateUnloading   ModelState = "UNLOADING"
)

// ModelIndexEntry is one row of the repository index.
type ModelIndexEntry struct {
	Name    string
	Version string // empty for a model that was never loaded
	State   ModelState
	// Reason explains UNAVAILABLE, e.g. the load error or "unloaded".
	Reason string
}

// RepositoryIndex lists the models in the server's repository; readyOnly
// limits it to loaded, ready versions.
func (c *Client) RepositoryIndex(ctx context.Context, readyOnly bool) ([]ModelIndexEntry, error) {
	resp, err := c.rpc.RepositoryIndex(ctx, &pb.RepositoryIndexRequest{Ready: readyOnly})
	if err != nil {
		return nil, c.wrapErr(ctx, "RepositoryIndex", "", err)
	}
	out := make([]ModelIndexEntry, 0, len(resp.GetModels()))
	for _, m := range resp.GetModels() {
		out = append(out, ModelIndexEntry{Name: m.GetName(), Version: m.GetVersion(), State: ModelState(m.GetState()), Reason: m.GetReason()})
	}
	return out, nil
}

// Load loads (or reloads) model. With cfg nil the repository's config.pbtxt
// is used; otherwise cfg is sent as a JSON ModelConfig that replaces
// config.pbtxt for this load (see Override.Apply to build one). It blocks
// until Triton reports the load done or failed; a failed load's error wraps
// ErrInvalidArgument or ErrInternal and carries Triton's message.
//
// Reloading a loaded model with a changed config builds the new copy beside
// the old one (both resident at the peak): unload and wait first where
// memory matters.
func (c *Client) Load(ctx context.Context, model string, cfg *pb.ModelConfig) error {
	req := &pb.RepositoryModelLoadRequest{ModelName: model}
	if cfg != nil {
		js, err := ConfigJSON(cfg)
		if err != nil {
			return fmt.Errorf("load %q on %s: %w: %w", model, c.name, ErrInvalidArgument, err)
		}
		req.Parameters = map[string]*pb.ModelRepositoryParameter{
			"config": {ParameterChoice: &pb.ModelRepositoryParameter_StringParam{StringParam: string(js)}},
		}
	}
	if _, err := c.rpc.RepositoryModelLoad(ctx, req); err != nil {
		return c.wrapErr(ctx, "RepositoryModelLoad", model, err)
	}
	return nil
}

// Unload asks Triton to unload model and returns at once, before the model
// is gone (use WaitUnloaded or UnloadAndWait). unloadDependents also unloads
// models that depend on it (an ensemble's members). Unloading a model that is
// not loaded succeeds.
func (c *Client) Unload(ctx context.Context, model string, unloadDependents bool) error {
	req := &pb.RepositoryModelUnloadRequest{ModelName: model}
	if unloadDependents {
		req.Parameters = map[string]*pb.ModelRepositoryParameter{
			"unload_dependents": {ParameterChoice: &pb.ModelRepositoryParameter_BoolParam{BoolParam: true}},
		}
	}
	if _, err := c.rpc.RepositoryModelUnload(ctx, req); err != nil {
		return c.wrapErr(ctx, "RepositoryModelUnload", model, err)
	}
	return nil
}

// WaitUnloaded polls the repository index until no version of model is
// READY, LOADING or UNLOADING, i.e. until its memory has been released. ctx
// bounds the wait.
func (c *Client) WaitUnloaded(ctx context.Context, model string) error {
	const every = 50 * time.Millisecond
	for {
		idx, err := c.RepositoryIndex(ctx, false)
		if err != nil {
			return err
		}
		if !resident(idx, model) {
			return nil
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for %q to unload on %s: %w", model, c.name, ctx.Err())
		case <-t.C:
		}
	}
}

func resident(idx []ModelIndexEntry, model string) bool {
	for _, e := range idx {
		if e.Name != model {
			continue
		}
		switch e.State {
		case StateReady, StateLoading, StateUnloading:
			return true
		}
	}
	return false
}

// UnloadAndWait unloads model and waits until Triton reports it gone.
func (c *Client) UnloadAndWait(ctx context.Context, model string, unloadDependents bool) error {
	if err := c.Unload(ctx, model, unloadDependents); err != nil {
		return err
	}
	return c.WaitUnloaded(ctx, model)
}

// ConfigJSON renders cfg the way Triton's load API expects its "config"
// parameter: protobuf JSON with the proto field names (max_batch_size) and
// enum names (KIND_CPU, TYPE_FP32).
func ConfigJSON(cfg *pb.ModelConfig) ([]byte, error) {
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(cfg)
}

// ReadModelConfig parses a config.pbtxt. Fields Baton does not declare are an
// error rather than silently dropped, because a load override built from the
// result replaces the whole file. An empty name is taken from the model's
// directory.
func ReadModelConfig(path string) (*pb.ModelConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := &pb.ModelConfig{}
	if err := prototext.Unmarshal(b, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, ErrInvalidArgument, err)
	}
	if cfg.GetName() == "" {
		cfg.Name = filepath.Base(filepath.Dir(path))
	}
	return cfg, nil
}

// InstanceKind is where a model's instances run.
type InstanceKind int

// Instance kinds, as in Triton's instance_group.kind.
const (
	KindAuto InstanceKind = iota
	KindGPU
	KindCPU
)

func (k InstanceKind) String() string {
	switch k {
	case KindGPU:
		return "KIND_GPU"
	case KindCPU:
		return "KIND_CPU"
	default:
		return "KIND_AUTO"
	}
}

// DynamicBatching configures Triton's dynamic batcher for a load.
type DynamicBatching struct {
	PreferredBatchSizes []int32
	// MaxQueueDelay is how long the batcher may hold a request to fill a batch.
	MaxQueueDelay time.Duration
}

// Override is the typed part of a load-time config change: where instances
// run and how requests are batched. Zero fields leave the base untouched.
type Override struct {
	// Kind and Count set a single instance_group; Count 0 means 1.
	Kind  InstanceKind
	Count int32
	// GPUs are device indices for KindGPU (empty: all GPUs).
	GPUs []int32
	// SetInstanceGroup must be true for Kind/Count/GPUs to apply (so that
	// KindAuto can be asked for explicitly).
	SetInstanceGroup bool
	// MaxBatchSize, when non-nil, replaces max_batch_size.
	MaxBatchSize *int32
	// DynamicBatching, when non-nil, enables the dynamic batcher with these
	// settings (replacing any scheduling choice other than an ensemble's).
	DynamicBatching *DynamicBatching
	// Parameters are merged into the config's parameters map.
	Parameters map[string]string
}

// Apply returns a copy of base with the override applied; base is not
// modified. It refuses GPUs with a non-GPU kind and dynamic batching on an
// ensemble, with errors wrapping ErrInvalidArgument.
func (o Override) Apply(base *pb.ModelConfig) (*pb.ModelConfig, error) {
	cfg := proto.Clone(base).(*pb.ModelConfig)
	if o.SetInstanceGroup {
		if len(o.GPUs) > 0 && o.Kind != KindGPU && o.Kind != KindAuto {
			return nil, fmt.Errorf("%w: gpus %v given with %s (only KIND_GPU or KIND_AUTO take gpus)", ErrInvalidArgument, o.GPUs, o.Kind)
		}
		count := o.Count
		if count <= 0 {
			count = 1
		}
		cfg.InstanceGroup = []*pb.ModelInstanceGroup{{
			Kind:  pb.ModelInstanceGroup_Kind(o.Kind),
			Count: count,
			Gpus:  o.GPUs,
		}}
	}
	if o.MaxBatchSize != nil {
		cfg.MaxBatchSize = *o.MaxBatchSize
	}
	if o.DynamicBatching != nil {
		if cfg.GetEnsembleScheduling() != nil {
			return nil, fmt.Errorf("%w: dynamic_batching on ensemble %q", ErrInvalidArgument, cfg.GetName())
		}
		cfg.SchedulingChoice = &pb.ModelConfig_DynamicBatching{DynamicBatching: &pb.ModelDynamicBatching{
			PreferredBatchSize:        o.DynamicBatching.PreferredBatchSizes,
			MaxQueueDelayMicroseconds: uint64(o.DynamicBatching.MaxQueueDelay.Microseconds()),
		}}
	}
	if len(o.Parameters) > 0 {
		if cfg.Parameters == nil {
			cfg.Parameters = map[string]*pb.ModelParameter{}
		}
		for k, v := range o.Parameters {
			cfg.Parameters[k] = &pb.ModelParameter{StringValue: v}
		}
	}
	return cfg, nil
}
