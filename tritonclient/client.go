package tritonclient

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// Options tunes a Client; the zero value is ready to use.
type Options struct {
	// Name identifies the instance in errors and logs (default: the address).
	Name string
	// KeepaliveTime is how long a connection with calls in flight may be idle
	// before the client pings (default 5m). Triton, like gRPC core, rejects
	// pings more often than every 5 minutes on a connection carrying no data
	// and closes it after two such strikes, which would kill a long model
	// load; so do not set it lower unless the server is configured to allow it.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long to wait for a ping's answer (default 20s).
	KeepaliveTimeout time.Duration
	// MaxMessageBytes bounds sent and received messages (default 2 GiB - 1,
	// Triton's own limit, instead of grpc-go's 4 MiB receive default).
	MaxMessageBytes int
	// DialOptions are appended after the client's own.
	DialOptions []grpc.DialOption
}

// Client talks to one Triton instance over gRPC. It is safe for concurrent
// use; create one per instance and share it.
type Client struct {
	name   string
	addr   string
	conn   *grpc.ClientConn
	rpc    pb.GRPCInferenceServiceClient
	health healthpb.HealthClient
}

// New creates a client for the Triton gRPC endpoint at addr (host:port). It
// does not connect until the first call.
func New(addr string, opts Options) (*Client, error) {
	if opts.Name == "" {
		opts.Name = addr
	}
	if opts.KeepaliveTime <= 0 {
		opts.KeepaliveTime = 5 * time.Minute
	}
	if opts.KeepaliveTimeout <= 0 {
		opts.KeepaliveTimeout = 20 * time.Second
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = math.MaxInt32
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: opts.KeepaliveTime, Timeout: opts.KeepaliveTimeout}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(opts.MaxMessageBytes), grpc.MaxCallSendMsgSize(opts.MaxMessageBytes)),
	}
	dial = append(dial, opts.DialOptions...)
	conn, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return nil, fmt.Errorf("triton client for %s: %w", addr, err)
	}
	return &Client{
		name:   opts.Name,
		addr:   addr,
		conn:   conn,
		rpc:    pb.NewGRPCInferenceServiceClient(conn),
		health: healthpb.NewHealthClient(conn),
	}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Name is the instance's name used in errors.
func (c *Client) Name() string { return c.name }

// Addr is the gRPC address the client dials.
func (c *Client) Addr() string { return c.addr }

// ServerLive reports Triton's liveness.
func (c *Client) ServerLive(ctx context.Context) (bool, error) {
	resp, err := c.rpc.ServerLive(ctx, &pb.ServerLiveRequest{})
	if err != nil {
		return false, c.wrapErr(ctx, "ServerLive", "", err)
	}
	return resp.GetLive(), nil
}

// ServerReady reports whether Triton is ready for inference.
func (c *Client) ServerReady(ctx context.Context) (bool, error) {
	resp, err := c.rpc.ServerReady(ctx, &pb.ServerReadyRequest{})
	if err != nil {
		return false, c.wrapErr(ctx, "ServerReady", "", err)
	}
	return resp.GetReady(), nil
}

// Health asks the standard gRPC health service (grpc.health.v1) for the
// whole server; Triton answers it. It returns the serving status.
func (c *Client) Health(ctx context.Context) (healthpb.HealthCheckResponse_ServingStatus, error) {
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN, c.wrapErr(ctx, "Health", "", err)
	}
	return resp.GetStatus(), nil
}

// ServerMetadata is what a Triton server says about itself.
type ServerMetadata struct {
	Name       string
	Version    string
	Extensions []string
}

// ServerMetadata returns the server's name, version and protocol extensions.
func (c *Client) ServerMetadata(ctx context.Context) (ServerMetadata, error) {
	resp, err := c.rpc.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	if err != nil {
		return ServerMetadata{}, c.wrapErr(ctx, "ServerMetadata", "", err)
	}
	return ServerMetadata{Name: resp.GetName(), Version: resp.GetVersion(), Extensions: resp.GetExtensions()}, nil
}

// TensorMetadata describes one model input or output; -1 in Shape marks a
// variable dimension (including the batch dimension of batching models).
type TensorMetadata struct {
	Name     string
	DataType DataType
	Shape    []int64
}

// ModelMetadata describes a loaded model's interface.
type ModelMetadata struct {
	Name     string
	Versions []string
	Platform string
	Inputs   []TensorMetadata
	Outputs  []TensorMetadata
}

// Input returns the input called name.
func (m *ModelMetadata) Input(name string) (TensorMetadata, bool) {
	i := slices.IndexFunc(m.Inputs, func(t TensorMetadata) bool { return t.Name == name })
	if i < 0 {
		return TensorMetadata{}, false
	}
	return m.Inputs[i], true
}

// Output returns the output called name.
func (m *ModelMetadata) Output(name string) (TensorMetadata, bool) {
	i := slices.IndexFunc(m.Outputs, func(t TensorMetadata) bool { return t.Name == name })
	if i < 0 {
		return TensorMetadata{}, false
	}
	return m.Outputs[i], true
}

// ModelMetadata returns the inputs and outputs of a loaded model; version ""
// means the server's choice (the latest ready version).
func (c *Client) ModelMetadata(ctx context.Context, model, version string) (*ModelMetadata, error) {
	resp, err := c.rpc.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: model, Version: version})
	if err != nil {
		return nil, c.wrapErr(ctx, "ModelMetadata", model, err)
	}
	conv := func(ts []*pb.ModelMetadataResponse_TensorMetadata) []TensorMetadata {
		out := make([]TensorMetadata, 0, len(ts))
		for _, t := range ts {
			out = append(out, TensorMetadata{Name: t.GetName(), DataType: DataType(t.GetDatatype()), Shape: t.GetShape()})
		}
		return out
	}
	return &ModelMetadata{
		Name:     resp.GetName(),
		Versions: resp.GetVersions(),
		Platform: resp.GetPlatform(),
		Inputs:   conv(resp.GetInputs()),
		Outputs:  conv(resp.GetOutputs()),
	}, nil
}

// ModelReady reports whether the model (version "" = any) is ready. A model
// that is unknown or not loaded is reported as not ready, without error.
func (c *Client) ModelReady(ctx context.Context, model, version string) (bool, error) {
	resp, err := c.rpc.ModelReady(ctx, &pb.ModelReadyRequest{Name: model, Version: version})
	if err != nil {
		return false, c.wrapErr(ctx, "ModelReady", model, err)
	}
	return resp.GetReady(), nil
}

// ModelConfig returns a loaded model's effective configuration (after
// Triton's auto-completion), decoded into the fields Baton declares.
func (c *Client) ModelConfig(ctx context.Context, model, version string) (*pb.ModelConfig, error) {
	resp, err := c.rpc.ModelConfig(ctx, &pb.ModelConfigRequest{Name: model, Version: version})
	if err != nil {
		return nil, c.wrapErr(ctx, "ModelConfig", model, err)
	}
	return resp.GetConfig(), nil
}

// Raw is the generated gRPC client on the same connection, for callers
// that pass protocol messages through untouched (the pipeline executor).
// Its errors are plain gRPC statuses; pass them to WrapError.
func (c *Client) Raw() pb.GRPCInferenceServiceClient { return c.rpc }

// WrapError maps an error from a Raw call the way Client's own methods do.
func (c *Client) WrapError(ctx context.Context, op, model string, err error) error {
	return c.wrapErr(ctx, op, model, err)
}
