// Package executor runs a compiled pipeline: it calls each stage's model
// over gRPC on the instance the Router picks, hands the raw output bytes of
// one stage to the next without decoding them, and records where each stage
// ran and how long it took.
//
// It owns deadlines (request and per-stage), cancellation, and retries where
// they are safe: a call that provably never reached a model (connection
// refused, model not on that instance) or a stage declared idempotent goes
// to another instance holding the model. It must not choose instances itself.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// Router picks the instance that serves a model for a stage.
type Router interface {
	// Route returns where to call t's model, skipping the instances in
	// exclude; an error (wrapping fleet.ErrNoInstance, typically) means
	// none is available. The caller calls the Route's Done when the call
	// has finished, so the router knows what is in flight where.
	Route(ctx context.Context, t Target, exclude []string) (Route, error)
	// ReportFailure tells the router that instance could not be reached.
	ReportFailure(instance string, err error)
}

// Target is the stage being routed.
type Target struct {
	Pipeline string
	Stage    string
	// Model is the model to call (for a group stage, the request's target).
	Model  string
	Device pipeline.Device
	// Group is the stage's multi-model group ("" for a plain stage).
	Group string
}

// Route is where one stage call goes.
type Route struct {
	Instance string
	Client   *tritonclient.Client
	// Done ends the call's in-flight accounting; nil means nothing to do.
	Done func()
}

// Errors a caller maps to its protocol's status codes.
var (
	// ErrBadInput: the request does not fit the pipeline (names, dtypes,
	// shapes, contents). HTTP 400.
	ErrBadInput = errors.New("bad input")
	// ErrNoInstance: no healthy instance serves a stage's model. HTTP 503.
	ErrNoInstance = errors.New("no instance available")
	// ErrMissingTarget: a group stage and no target model. HTTP 400.
	ErrMissingTarget = errors.New("target model required")
	// ErrUnknownTarget: the target model is not a member of the stage's
	// group. HTTP 404. Routers wrap it.
	ErrUnknownTarget = errors.New("unknown target model")
	// ErrLoadFailed: loading the stage's model on demand failed (Triton's
	// message inside). HTTP 424. Routers wrap it.
	ErrLoadFailed = errors.New("model load failed")
)

// StageError is a stage that failed on Triton: which stage, model and
// instance, with Triton's error (a *tritonclient.Error) inside.
type StageError struct {
	Stage    string
	Index    int
	Model    string
	Instance string
	Err      error
}

func (e *StageError) Error() string {
	cause := e.Err.Error()
	var te *tritonclient.Error
	if errors.As(e.Err, &te) { // instance and model are said once, here
		cause = fmt.Sprintf("%s: %s", te.Unwrap(), te.Message)
	}
	if e.Instance == "" {
		return fmt.Sprintf("stage %q (model %q): %s", e.Stage, e.Model, cause)
	}
	return fmt.Sprintf("stage %q (model %q on %s): %s", e.Stage, e.Model, e.Instance, cause)
}

func (e *StageError) Unwrap() error { return e.Err }

// Request is one pipeline invocation.
type Request struct {
	// ID is echoed in the response and passed to every stage.
	ID string
	// Inputs are the pipeline inputs; Raw bytes are passed to the stages
	// as they are.
	Inputs []tritonclient.Tensor
	// Outputs names the pipeline outputs wanted; empty means all.
	Outputs []string
	// TargetModel picks the model of group stages.
	TargetModel string
	// Priority is passed to every stage (Triton's "priority"), 0 = default.
	Priority int64
}

// StageRecord says where and how a stage ran.
type StageRecord struct {
	Stage    string
	Model    string
	Instance string
	// Attempts counts calls made (retries included).
	Attempts int
	// Duration is the wall time of the stage, retries included.
	Duration time.Duration
	// Err is the final error, if the stage failed.
	Err error
}

// Result is a successful pipeline run.
type Result struct {
	// Outputs in the order requested (or pipeline declaration order).
	Outputs []tritonclient.Tensor
	Stages  []StageRecord
	// Total is the wall time of Run.
	Total time.Duration
}

// Overhead is the time spent outside stage calls: Baton's own cost.
func (r *Result) Overhead() time.Duration {
	d := r.Total
	for _, s := range r.Stages {
		d -= s.Duration
	}
	return d
}

// Options tunes an Executor.
type Options struct {
	Logger *slog.Logger
	// Registerer receives the per-stage metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// MaxAttempts bounds calls per stage, retries included (default 3).
	MaxAttempts int
}

// Executor runs pipelines. It is safe for concurrent use.
type Executor struct {
	router      Router
	logger      *slog.Logger
	maxAttempts int
	stageDur    *prometheus.HistogramVec
	stageErrs   *prometheus.CounterVec
}

// New creates an Executor that routes stages with router.
func New(router Router, opts Options) (*Executor, error) {
	e := &Executor{router: router, logger: opts.Logger, maxAttempts: opts.MaxAttempts}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if e.maxAttempts <= 0 {
		e.maxAttempts = 3
	}
	e.stageDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "baton_stage_duration_seconds",
		Help:    "Wall time of one pipeline stage call, by pipeline, stage and instance.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	}, []string{"pipeline", "stage", "instance"})
	e.stageErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "baton_stage_failures_total",
		Help: "Failed stage calls, by pipeline, stage, instance and reason.",
	}, []string{"pipeline", "stage", "instance", "reason"})
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{e.stageDur, e.stageErrs} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// tensorRef is a pipeline tensor in flight: raw bytes are shared, never
// copied, from the response that produced them to the request that uses
// them.
type tensorRef struct {
	dtype string
	shape []int64
	raw   []byte
}

// Run executes plan for req. Errors: ErrBadInput (wrapped, naming the
// field), ErrMissingTarget, ErrNoInstance, *StageError, or the context's
// error (wrapped with the stage that was running).
func (e *Executor) Run(ctx context.Context, plan *pipeline.Plan, req *Request) (*Result, error) {
	start := time.Now()
	tensors, err := bindInputs(plan, req)
	if err != nil {
		return nil, err
	}
	want, err := wantedOutputs(plan, req)
	if err != nil {
		return nil, err
	}
	res := &Result{Stages: make([]StageRecord, 0, len(plan.Stages))}
	for i := range plan.Stages {
		st := &plan.Stages[i]
		rec, err := e.runStage(ctx, plan, st, req, tensors)
		res.Stages = append(res.Stages, rec)
		if err != nil {
			res.Total = time.Since(start)
			return res, err
		}
	}
	res.Outputs = make([]tritonclient.Tensor, 0, len(want))
	for _, name := range want {
		t := tensors[name]
		res.Outputs = append(res.Outputs, tritonclient.Tensor{Name: name, DataType: tritonclient.DataType(t.dtype), Shape: t.shape, Raw: t.raw})
	}
	res.Total = time.Since(start)
	return res, nil
}

func bindInputs(plan *pipeline.Plan, req *Request) (map[string]*tensorRef, error) {
	tensors := make(map[string]*tensorRef, len(plan.Inputs)+2*len(plan.Stages))
	for i, in := range req.Inputs {
		spec, ok := plan.Input(in.Name)
		if !ok {
			return nil, fmt.Errorf("%w: inputs[%d]: unknown input %q (pipeline %s takes %s)", ErrBadInput, i, in.Name, plan.Spec.Name, inputNames(plan))
		}
		if _, dup := tensors[in.Name]; dup {
			return nil, fmt.Errorf("%w: inputs[%d]: input %q given twice", ErrBadInput, i, in.Name)
		}
		if string(in.DataType) != spec.DataType {
			return nil, fmt.Errorf("%w: inputs[%d]: input %q is %s, pipeline %s takes %s", ErrBadInput, i, in.Name, in.DataType, plan.Spec.Name, spec.DataType)
		}
		if !shapeFits(in.Shape, spec.Shape) {
			return nil, fmt.Errorf("%w: inputs[%d]: input %q has shape %v, pipeline %s takes %v", ErrBadInput, i, in.Name, in.Shape, plan.Spec.Name, spec.Shape)
		}
		if err := in.Validate(); err != nil {
			return nil, fmt.Errorf("%w: inputs[%d]: %w", ErrBadInput, i, err)
		}
		tensors[in.Name] = &tensorRef{dtype: string(in.DataType), shape: in.Shape, raw: in.Raw}
	}
	for _, spec := range plan.Inputs {
		if _, ok := tensors[spec.Name]; !ok {
			return nil, fmt.Errorf("%w: inputs: missing input %q", ErrBadInput, spec.Name)
		}
	}
	return tensors, nil
}

func wantedOutputs(plan *pipeline.Plan, req *Request) ([]string, error) {
	if len(req.Outputs) == 0 {
		names := make([]string, len(plan.Outputs))
		for i, o := range plan.Outputs {
			names[i] = o.Name
		}
		return names, nil
	}
	for i, name := range req.Outputs {
		if !slices.ContainsFunc(plan.Outputs, func(t pipeline.TensorSpec) bool { return t.Name == name }) {
			return nil, fmt.Errorf("%w: outputs[%d]: unknown output %q (pipeline %s returns %s)", ErrBadInput, i, name, plan.Spec.Name, outputNames(plan))
		}
	}
	return req.Outputs, nil
}

// shapeFits: same rank, each dimension equal to the spec's or the spec's is -1.
func shapeFits(got, spec []int64) bool {
	if len(spec) == 0 {
		return true
	}
	if len(got) != len(spec) {
		return false
	}
	for i := range spec {
		if spec[i] != -1 && spec[i] != got[i] {
			return false
		}
	}
	return true
}

func (e *Executor) runStage(ctx context.Context, plan *pipeline.Plan, st *pipeline.StagePlan, req *Request, tensors map[string]*tensorRef) (rec StageRecord, _ error) {
	rec = StageRecord{Stage: st.Name, Model: st.Model}
	start := time.Now()
	defer func() { rec.Duration = time.Since(start) }() // rec is the named result: the caller sees it
	model := st.Model
	if st.Group != "" {
		if req.TargetModel == "" {
			rec.Err = fmt.Errorf("%w: stage %q serves group %q: name the model with the X-Baton-Target-Model header or the target_model parameter", ErrMissingTarget, st.Name, st.Group)
			return rec, rec.Err
		}
		model = req.TargetModel
		rec.Model = model
	}
	preq := &pb.ModelInferRequest{
		ModelName:        model,
		ModelVersion:     st.Version,
		Id:               req.ID,
		Inputs:           make([]*pb.ModelInferRequest_InferInputTensor, len(st.Inputs)),
		RawInputContents: make([][]byte, len(st.Inputs)),
		Outputs:          make([]*pb.ModelInferRequest_InferRequestedOutputTensor, len(st.Outputs)),
	}
	if req.Priority != 0 {
		preq.Parameters = map[string]*pb.InferParameter{"priority": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: req.Priority}}}
	}
	for i, b := range st.Inputs {
		t := tensors[b.Tensor]
		preq.Inputs[i] = &pb.ModelInferRequest_InferInputTensor{Name: b.Model, Datatype: t.dtype, Shape: t.shape}
		preq.RawInputContents[i] = t.raw
	}
	for i, b := range st.Outputs {
		preq.Outputs[i] = &pb.ModelInferRequest_InferRequestedOutputTensor{Name: b.Model}
	}

	var tried []string
	for attempt := 1; ; attempt++ {
		rec.Attempts = attempt
		route, err := e.router.Route(ctx, Target{Pipeline: plan.Spec.Name, Stage: st.Name, Model: model, Device: st.Device, Group: st.Group}, tried)
		if err != nil {
			switch {
			case len(tried) > 0 && rec.Err != nil:
				err = rec.Err // the last real failure says more than "no other instance"
			case errors.Is(err, ErrUnknownTarget), errors.Is(err, ErrLoadFailed), ctx.Err() != nil:
				// The router's own verdict (or the caller's deadline while
				// a model loaded) is the answer, not "no instance".
				err = fmt.Errorf("stage %q: %w", st.Name, err)
			default:
				err = fmt.Errorf("stage %q: %w: %w", st.Name, ErrNoInstance, err)
			}
			rec.Err = err
			return rec, err
		}
		instance := route.Instance
		rec.Instance = instance
		callCtx, cancel := ctx, context.CancelFunc(func() {})
		if st.Timeout > 0 {
			callCtx, cancel = context.WithTimeout(ctx, st.Timeout)
		}
		callStart := time.Now()
		resp, err := route.Client.ModelInfer(callCtx, preq)
		cancel()
		if route.Done != nil {
			route.Done()
		}
		e.stageDur.WithLabelValues(plan.Spec.Name, st.Name, instance).Observe(time.Since(callStart).Seconds())
		if err == nil {
			if err := storeOutputs(st, resp, tensors); err != nil {
				rec.Err = &StageError{Stage: st.Name, Index: st.Index, Model: model, Instance: instance, Err: err}
				return rec, rec.Err
			}
			rec.Err = nil
			return rec, nil
		}
		reason := failureReason(err)
		e.stageErrs.WithLabelValues(plan.Spec.Name, st.Name, instance, reason).Inc()
		if ctx.Err() != nil { // the request's own deadline or the client went away
			rec.Err = fmt.Errorf("stage %q on %s: %w", st.Name, instance, ctx.Err())
			return rec, rec.Err
		}
		if errors.Is(err, context.DeadlineExceeded) { // the stage's own timeout
			rec.Err = &StageError{Stage: st.Name, Index: st.Index, Model: model, Instance: instance, Err: fmt.Errorf("stage timeout %s: %w", st.Timeout, err)}
			return rec, rec.Err
		}
		rec.Err = &StageError{Stage: st.Name, Index: st.Index, Model: model, Instance: instance, Err: err}
		neverSent := neverReachedModel(err)
		if neverSent && errors.Is(err, tritonclient.ErrUnavailable) {
			e.router.ReportFailure(instance, err)
		}
		// An idempotent stage may be retried after a transport failure that
		// might have reached the model; a model's own verdict (invalid
		// argument, internal error) would only repeat elsewhere.
		retryable := neverSent || (st.Idempotent && errors.Is(err, tritonclient.ErrUnavailable))
		if attempt >= e.maxAttempts || !retryable {
			return rec, rec.Err
		}
		e.logger.Warn("retrying stage on another instance", "pipeline", plan.Spec.Name, "stage", st.Name, "instance", instance, "attempt", attempt, "err", err)
		tried = append(tried, instance)
	}
}

// neverReachedModel reports failures where Triton provably did not run the
// model: the connection could not be made, or the instance does not have
// the model (it was unloaded since the router looked).
func neverReachedModel(err error) bool {
	var te *tritonclient.Error
	if !errors.As(err, &te) {
		return false
	}
	switch {
	case errors.Is(err, tritonclient.ErrModelNotFound):
		return true
	case errors.Is(err, tritonclient.ErrUnavailable):
		// grpc-go says "while dialing" (or "connection refused") when the
		// transport never came up, i.e. the request was never sent.
		return strings.Contains(te.Message, "while dialing") || strings.Contains(te.Message, "connection refused")
	}
	return false
}

func failureReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, tritonclient.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, tritonclient.ErrModelNotFound):
		return "not_found"
	case errors.Is(err, tritonclient.ErrInvalidArgument):
		return "invalid_argument"
	default:
		return "internal"
	}
}

func storeOutputs(st *pipeline.StagePlan, resp *pb.ModelInferResponse, tensors map[string]*tensorRef) error {
	outs, raw := resp.GetOutputs(), resp.GetRawOutputContents()
	if len(raw) != len(outs) {
		return fmt.Errorf("%w: response has %d outputs but %d raw contents", tritonclient.ErrInternal, len(outs), len(raw))
	}
	for _, b := range st.Outputs {
		i := slices.IndexFunc(outs, func(o *pb.ModelInferResponse_InferOutputTensor) bool { return o.GetName() == b.Model })
		if i < 0 {
			return fmt.Errorf("%w: model returned no output %q", tritonclient.ErrInternal, b.Model)
		}
		tensors[b.Tensor] = &tensorRef{dtype: outs[i].GetDatatype(), shape: outs[i].GetShape(), raw: raw[i]}
	}
	return nil
}

func inputNames(plan *pipeline.Plan) string {
	names := make([]string, len(plan.Inputs))
	for i, t := range plan.Inputs {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

func outputNames(plan *pipeline.Plan) string {
	names := make([]string, len(plan.Outputs))
	for i, t := range plan.Outputs {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}
