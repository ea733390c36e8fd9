package harness

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// openGRPC probes a v2 gRPC server (Triton or Baton) and returns a Conn
// that sends ModelInfer calls on one connection.
func openGRPC(ctx context.Context, ep Endpoint) (*Conn, error) {
	addr := hostPort(ep.URL)
	c, err := tritonclient.New(addr, tritonclient.Options{DialOptions: []grpc.DialOption{grpc.WithStatsHandler(callTimer{})}})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadFlag, addr, err)
	}
	info, err := probeGRPC(ctx, ep, c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Conn{ep: ep, info: info, door: &grpcDoor{c: c, ep: ep}, stats: c, closer: c.Close}, nil
}

func probeGRPC(ctx context.Context, ep Endpoint, c *tritonclient.Client) (*ModelInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, ep.ProbeTimeout)
	defer cancel()
	ready, err := c.ServerReady(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: no v2 gRPC server answers at %s: %w", ErrUnreachable, c.Addr(), err)
	}
	if !ready {
		return nil, fmt.Errorf("%w: server at %s is not ready", ErrNotReady, c.Addr())
	}
	sm, err := c.ServerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: server metadata from %s: %w", ErrNotReady, c.Addr(), err)
	}
	if ok, err := c.ModelReady(ctx, ep.Model, ep.Version); err != nil || !ok {
		return nil, fmt.Errorf("%w: model %q is not ready on %s (%s %s)%s", ErrNotReady, ep.Model, c.Addr(), sm.Name, sm.Version, errSuffix(err))
	}
	md, err := c.ModelMetadata(ctx, ep.Model, ep.Version)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata of %q from %s: %w", ErrNotReady, ep.Model, c.Addr(), err)
	}
	cfg, err := c.ModelConfig(ctx, ep.Model, ep.Version)
	if err != nil {
		return nil, fmt.Errorf("%w: configuration of %q from %s: %w", ErrNotReady, ep.Model, c.Addr(), err)
	}
	info := &ModelInfo{
		ServerName: sm.Name, ServerVersion: sm.Version, Model: md.Name, Versions: md.Versions,
		Platform: md.Platform, MaxBatchSize: int(cfg.GetMaxBatchSize()), Inputs: md.Inputs, Outputs: md.Outputs,
	}
	if info.Platform == "" {
		info.Platform = cfg.GetPlatform()
	}
	for _, st := range cfg.GetEnsembleScheduling().GetStep() {
		info.Composing = append(info.Composing, st.GetModelName())
	}
	return info, checkInfo(ep, info)
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// grpcDoor sends prebuilt ModelInferRequests. A proto message may be
// marshalled by many goroutines at once as long as none modifies it.
type grpcDoor struct {
	c    *tritonclient.Client
	ep   Endpoint
	reqs []*pb.ModelInferRequest
}

func (d *grpcDoor) prepare(_ *ModelInfo, payloads []Payload) error {
	d.reqs = make([]*pb.ModelInferRequest, len(payloads))
	for i, p := range payloads {
		r := &pb.ModelInferRequest{ModelName: d.ep.Model, ModelVersion: d.ep.Version}
		for _, t := range p.Inputs {
			if err := t.Validate(); err != nil {
				return fmt.Errorf("%w: payload %d: %w", ErrBadFlag, i, err)
			}
			r.Inputs = append(r.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: t.Name, Datatype: string(t.DataType), Shape: t.Shape})
			r.RawInputContents = append(r.RawInputContents, t.Raw)
		}
		if d.ep.TargetModel != "" {
			r.Parameters = map[string]*pb.InferParameter{"target_model": {ParameterChoice: &pb.InferParameter_StringParam{StringParam: d.ep.TargetModel}}}
		}
		d.reqs[i] = r
	}
	return nil
}

func (d *grpcDoor) send(ctx context.Context, i int) (Reply, error) {
	ct := &callTimes{start: time.Now()}
	_, err := d.c.ModelInfer(context.WithValue(ctx, callTimesKey{}, ct), d.reqs[i%len(d.reqs)])
	end := time.Now()
	var r Reply
	if sent := ct.sent.Load(); sent != nil {
		r.Send = sent.Sub(ct.start)
	}
	if recv := ct.recv.Load(); recv != nil {
		r.Recv = end.Sub(*recv)
	}
	return r, err
}

// callTimes collects one call's milestones from the gRPC stats handler.
type callTimes struct {
	start      time.Time
	sent, recv atomic.Pointer[time.Time]
}

type callTimesKey struct{}

// callTimer is a gRPC stats handler that notes when a call's request left
// and its response arrived, for calls whose context carries *callTimes.
type callTimer struct{}

func (callTimer) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (callTimer) HandleRPC(ctx context.Context, s stats.RPCStats) {
	ct, _ := ctx.Value(callTimesKey{}).(*callTimes)
	if ct == nil {
		return
	}
	switch s := s.(type) {
	case *stats.OutPayload:
		t := s.SentTime
		ct.sent.Store(&t)
	case *stats.InPayload:
		t := s.RecvTime
		ct.recv.Store(&t)
	}
}

func (callTimer) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (callTimer) HandleConn(context.Context, stats.ConnStats) {}
