package grpcapi

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// Backend is what the gRPC front door needs from Baton.
type Backend interface {
	// Plan returns the compiled pipeline called name.
	Plan(name string) (*pipeline.Plan, bool)
	// Infer runs the named pipeline.
	Infer(ctx context.Context, name string, req *executor.Request) (*executor.Result, error)
	// Ready reports whether Baton is ready to serve inference.
	Ready() bool
	// Statistics returns Triton-style cumulative statistics for a pipeline.
	Statistics(name string) (tritonclient.ModelStats, bool)
	// PipelineNames lists the live pipelines.
	PipelineNames() []string
}

// Options tunes a Server; the zero value is ready to use.
type Options struct {
	// Logger receives request failures (nil: discard).
	Logger *slog.Logger
	// ServerName is reported by ServerMetadata (default "baton").
	ServerName string
	// ServerVersion is reported by ServerMetadata, e.g. the build version.
	ServerVersion string
	// MaxMessageBytes bounds a response in bytes; pass the same value as to
	// ServerOptions (default 2 GiB - 1, Triton's own limit).
	MaxMessageBytes int
}

// Platform is the platform string pipelines report in their metadata and config.
const Platform = "baton_pipeline"

// pipelineVersion is the only version a pipeline has.
const pipelineVersion = "1"

// serviceName is the full name of the inference service, also registered
// with the health service so that per-service health checks work.
const serviceName = "inference.GRPCInferenceService"

// extensions returns the Triton protocol extensions Baton's front doors speak.
func extensions() []string {
	return []string{"binary_tensor_data", "model_configuration", "parameters", "statistics"}
}

// Server serves Triton's GRPCInferenceService for Baton's pipelines; it is safe for concurrent use.
type Server struct {
	pb.UnimplementedGRPCInferenceServiceServer

	backend    Backend
	logger     *slog.Logger
	name       string
	version    string
	maxMessage int

	health *health.Server
	// healthMu orders reading Ready() with publishing it, so two racing
	// syncs cannot leave a stale status behind.
	healthMu   sync.Mutex
	healthLast healthpb.HealthCheckResponse_ServingStatus
	healthDown bool
}

// Server must stay a complete GRPCInferenceServiceServer.
var _ pb.GRPCInferenceServiceServer = (*Server)(nil)

// New creates a Server that answers from b.
func New(b Backend, opts Options) *Server {
	s := &Server{
		backend:    b,
		logger:     opts.Logger,
		name:       opts.ServerName,
		version:    opts.ServerVersion,
		maxMessage: opts.MaxMessageBytes,
		health:     health.NewServer(),
		healthLast: healthpb.HealthCheckResponse_UNKNOWN,
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.name == "" {
		s.name = "baton"
	}
	if s.maxMessage <= 0 {
		s.maxMessage = math.MaxInt32
	}
	s.syncHealth()
	return s
}

// Register registers the inference service and grpc.health.v1 on gs.
func (s *Server) Register(gs *grpc.Server) {
	pb.RegisterGRPCInferenceServiceServer(gs, s)
	healthpb.RegisterHealthServer(gs, &healthServer{Server: s.health, owner: s})
}

// Shutdown reports NOT_SERVING on the health service from now on, whatever
// Backend.Ready says, so that load balancers stop sending work while
// in-flight requests drain; it does not stop the gRPC server.
func (s *Server) Shutdown() {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	s.healthDown = true
	s.health.Shutdown()
}

// ServerOptions returns the grpc.ServerOption values Baton's gRPC listener
// should use: message limits of maxMessageBytes each way (default 2 GiB - 1,
// as Triton accepts, instead of grpc-go's 4 MiB) and a keepalive policy that
// tolerates the pings Triton clients may be configured to send.
func ServerOptions(maxMessageBytes int) []grpc.ServerOption {
	if maxMessageBytes <= 0 {
		maxMessageBytes = math.MaxInt32
	}
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxSendMsgSize(maxMessageBytes),
		// grpc-go's default (5 minutes, no pings without calls) sends GOAWAY
		// "too_many_pings" to a tritonclient.grpc KeepAliveOptions with a
		// short keepalive_time_ms or keepalive_permit_without_calls=True,
		// failing its in-flight requests.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second,
			PermitWithoutStream: true,
		}),
	}
}

// syncHealth publishes Backend.Ready to the health service (for the whole
// server and for the inference service) unless Shutdown was called.
func (s *Server) syncHealth() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	if s.healthDown {
		return
	}
	if s.backend.Ready() {
		st = healthpb.HealthCheckResponse_SERVING
	}
	if st == s.healthLast {
		return
	}
	s.healthLast = st
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(serviceName, st)
}

// healthServer is grpc-go's health server with its status refreshed from
// Backend.Ready before each call. Watch streams see changes that a later
// Check, List, Watch, ServerReady or ModelReady call (or Shutdown) notices:
// Baton has no readiness event to push from.
type healthServer struct {
	*health.Server
	owner *Server
}

// Check answers with the current readiness.
func (h *healthServer) Check(ctx context.Context, in *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.owner.syncHealth()
	return h.Server.Check(ctx, in)
}

// List answers with the current readiness.
func (h *healthServer) List(ctx context.Context, in *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	h.owner.syncHealth()
	return h.Server.List(ctx, in)
}

// Watch starts from the current readiness.
func (h *healthServer) Watch(in *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	h.owner.syncHealth()
	return h.Server.Watch(in, stream)
}

// ServerLive reports that Baton is live: it answers while it serves at all.
func (s *Server) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

// ServerReady reports Backend.Ready.
func (s *Server) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	s.syncHealth()
	return &pb.ServerReadyResponse{Ready: s.backend.Ready()}, nil
}

// ServerMetadata reports Baton's name, version and protocol extensions.
func (s *Server) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: s.name, Version: s.version, Extensions: extensions()}, nil
}
