package grpcapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/batonhq/baton/orchestrator/executor"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// maxStreamInFlight bounds the requests of one ModelStreamInfer stream that
// run at once; beyond it the stream stops reading, so flow control pushes
// back on the client.
const maxStreamInFlight = 256

// ModelInfer runs the pipeline named by the request's model_name.
func (s *Server) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	return s.infer(ctx, req)
}

// infer is ModelInfer for both the unary and the streaming RPC; errors are
// gRPC statuses.
func (s *Server) infer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	name := req.GetModelName()
	if _, err := s.lookup(name, req.GetModelVersion()); err != nil {
		return nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	dec, err := decodeRequest(req, md)
	if err != nil {
		s.logger.DebugContext(ctx, "grpc infer request refused", "pipeline", name, "id", req.GetId(), "err", err)
		return nil, err
	}
	if dec.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dec.timeout)
		defer cancel()
	}
	res, err := s.backend.Infer(ctx, name, dec.req)
	if err != nil {
		st := s.inferStatus(name, err)
		s.logFailure(ctx, name, req.GetId(), st, err)
		return nil, st.Err()
	}
	if res == nil {
		return nil, status.Errorf(codes.Internal, "pipeline %q returned no result", name)
	}
	resp := encodeResponse(name, req.GetId(), res)
	if size := proto.Size(resp); size > s.maxMessage {
		err := status.Errorf(codes.ResourceExhausted, "response of pipeline %q is %d bytes, more than the %d-byte gRPC message limit", name, size, s.maxMessage)
		s.logger.WarnContext(ctx, "grpc infer response too large", "pipeline", name, "id", req.GetId(), "bytes", size, "limit", s.maxMessage)
		return nil, err
	}
	return resp, nil
}

// encodeResponse renders a pipeline result; contents are always raw.
func encodeResponse(name, id string, res *executor.Result) *pb.ModelInferResponse {
	resp := &pb.ModelInferResponse{
		ModelName:         name,
		ModelVersion:      pipelineVersion,
		Id:                id,
		Outputs:           make([]*pb.ModelInferResponse_InferOutputTensor, len(res.Outputs)),
		RawOutputContents: make([][]byte, len(res.Outputs)),
	}
	for i, t := range res.Outputs {
		resp.Outputs[i] = &pb.ModelInferResponse_InferOutputTensor{Name: t.Name, Datatype: string(t.DataType), Shape: t.Shape}
		resp.RawOutputContents[i] = t.Raw
	}
	return resp
}

// logFailure logs a failed inference: failures that are Baton's or a
// model's problem at Warn, the caller's own mistakes at Debug.
func (s *Server) logFailure(ctx context.Context, name, id string, st *status.Status, err error) {
	level := slog.LevelDebug
	switch st.Code() {
	case codes.Internal, codes.Unavailable, codes.Unknown:
		level = slog.LevelWarn
	}
	s.logger.Log(ctx, level, "grpc infer failed", "pipeline", name, "id", id, "code", st.Code().String(), "err", err)
}

// ModelStreamInfer answers each request on the stream with one response, or
// with an error_message naming what failed. Requests run concurrently (up
// to maxStreamInFlight), so responses may come out of order, as with
// Triton: clients match them by id.
func (s *Server) ModelStreamInfer(stream grpc.BidiStreamingServer[pb.ModelInferRequest, pb.ModelStreamInferResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	var (
		wg      sync.WaitGroup
		sendMu  sync.Mutex
		sendErr error
	)
	slots := make(chan struct{}, maxStreamInFlight)
	send := func(resp *pb.ModelStreamInferResponse) {
		sendMu.Lock()
		defer sendMu.Unlock()
		if sendErr != nil {
			return
		}
		if err := stream.Send(resp); err != nil {
			sendErr = err
			cancel() // the client is gone: stop the work still running for it
		}
	}
	var recvErr error
	for {
		req, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				recvErr = err
			}
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			send(s.streamResponse(ctx, req))
		})
	}
	// A half-closed stream still gets the answers to what it sent.
	wg.Wait()
	sendMu.Lock()
	defer sendMu.Unlock()
	if sendErr != nil {
		return sendErr
	}
	return recvErr
}

// streamResponse runs one streamed request; a failure becomes an
// error_message (with the request's id kept for correlation), since an
// error status would end the whole stream.
func (s *Server) streamResponse(ctx context.Context, req *pb.ModelInferRequest) *pb.ModelStreamInferResponse {
	out := &pb.ModelStreamInferResponse{}
	resp, err := s.infer(ctx, req)
	if err != nil {
		out.ErrorMessage = status.Convert(err).Message()
		resp = &pb.ModelInferResponse{ModelName: req.GetModelName(), ModelVersion: req.GetModelVersion(), Id: req.GetId()}
	}
	// Clients that ask for Triton's final-response flag (perf_analyzer
	// does) wait for it; a pipeline's one response is always the last.
	if req.GetParameters()[paramEnableFinal].GetBoolParam() {
		if resp.Parameters == nil {
			resp.Parameters = map[string]*pb.InferParameter{}
		}
		resp.Parameters[paramFinalResponse] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}}
	}
	out.InferResponse = resp
	return out
}
