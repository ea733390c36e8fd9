package grpcapi

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// lookup returns the plan of pipeline name at version ("" or "1"), or a
// NOT_FOUND status naming what is unknown.
func (s *Server) lookup(name, version string) (*pipeline.Plan, error) {
	plan, ok := s.backend.Plan(name)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown pipeline %q", name)
	}
	if !knownVersion(version) {
		return nil, status.Errorf(codes.NotFound, "pipeline %q has no version %q (pipelines have only version %q)", name, version, pipelineVersion)
	}
	return plan, nil
}

// knownVersion reports whether version addresses a pipeline's only version.
func knownVersion(version string) bool {
	return version == "" || version == pipelineVersion
}

// ModelReady reports whether the pipeline exists at that version and Baton is
// ready; an unknown pipeline is not ready, without error, as with Triton.
func (s *Server) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	s.syncHealth()
	_, ok := s.backend.Plan(req.GetName())
	return &pb.ModelReadyResponse{Ready: ok && knownVersion(req.GetVersion()) && s.backend.Ready()}, nil
}

// ModelMetadata describes a pipeline as a Triton model describes itself.
func (s *Server) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	plan, err := s.lookup(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	md := plan.Metadata()
	conv := func(ts []tritonclient.TensorMetadata) []*pb.ModelMetadataResponse_TensorMetadata {
		out := make([]*pb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: string(t.DataType), Shape: slices.Clone(t.Shape)}
		}
		return out
	}
	return &pb.ModelMetadataResponse{
		Name:     md.Name,
		Versions: []string{pipelineVersion},
		Platform: Platform,
		Inputs:   conv(md.Inputs),
		Outputs:  conv(md.Outputs),
	}, nil
}

// ModelConfig returns the configuration a Triton model with the pipeline's
// interface would have: what perf_analyzer reads to shape its requests.
func (s *Server) ModelConfig(_ context.Context, req *pb.ModelConfigRequest) (*pb.ModelConfigResponse, error) {
	plan, err := s.lookup(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	return &pb.ModelConfigResponse{Config: modelConfig(plan)}, nil
}

// modelConfig renders plan as a Triton model configuration. With
// max_batch_size > 0, Triton's dims leave out the batch dimension, which
// the pipeline's shapes include as their first (-1) dimension.
func modelConfig(plan *pipeline.Plan) *pb.ModelConfig {
	mbs := plan.Spec.MaxBatchSize
	dims := func(shape []int64) []int64 {
		if mbs > 0 && len(shape) > 0 {
			shape = shape[1:]
		}
		return slices.Clone(shape)
	}
	cfg := &pb.ModelConfig{
		Name:         plan.Spec.Name,
		Platform:     Platform,
		MaxBatchSize: mbs,
		Input:        make([]*pb.ModelInput, len(plan.Inputs)),
		Output:       make([]*pb.ModelOutput, len(plan.Outputs)),
	}
	for i, t := range plan.Inputs {
		cfg.Input[i] = &pb.ModelInput{Name: t.Name, DataType: configDataType(t.DataType), Dims: dims(t.Shape)}
	}
	for i, t := range plan.Outputs {
		cfg.Output[i] = &pb.ModelOutput{Name: t.Name, DataType: configDataType(t.DataType), Dims: dims(t.Shape)}
	}
	return cfg
}

// configDataType maps a wire datatype ("FP32") to its model-configuration
// spelling (TYPE_FP32); BYTES is TYPE_STRING there, unknown ones TYPE_INVALID.
func configDataType(dt string) pb.DataType {
	if dt == string(tritonclient.Bytes) {
		return pb.DataType_TYPE_STRING
	}
	return pb.DataType(pb.DataType_value["TYPE_"+dt])
}

// ModelStatistics returns cumulative statistics for one pipeline, or for all
// of them when the name is empty.
func (s *Server) ModelStatistics(_ context.Context, req *pb.ModelStatisticsRequest) (*pb.ModelStatisticsResponse, error) {
	name := req.GetName()
	if name == "" {
		if !knownVersion(req.GetVersion()) {
			return nil, status.Errorf(codes.NotFound, "no pipeline has version %q (pipelines have only version %q)", req.GetVersion(), pipelineVersion)
		}
		resp := &pb.ModelStatisticsResponse{}
		for _, n := range s.sortedNames() {
			if st, ok := s.backend.Statistics(n); ok { // skips one deleted since PipelineNames
				resp.ModelStats = append(resp.ModelStats, statsProto(n, st))
			}
		}
		return resp, nil
	}
	if _, err := s.lookup(name, req.GetVersion()); err != nil {
		return nil, err
	}
	st, ok := s.backend.Statistics(name)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown pipeline %q", name)
	}
	return &pb.ModelStatisticsResponse{ModelStats: []*pb.ModelStatistics{statsProto(name, st)}}, nil
}

// statsProto renders a pipeline's statistics as Triton reports a model's.
func statsProto(name string, st tritonclient.ModelStats) *pb.ModelStatistics {
	dur := func(d tritonclient.StatDuration) *pb.StatisticDuration {
		return &pb.StatisticDuration{Count: d.Count, Ns: uint64(max(d.Total, 0))}
	}
	queue := st.Queue
	if queue.Count == 0 {
		// Triton counts one queue entry per successful request, and
		// perf_analyzer (2.60) finds the model version whose queue count
		// grew during a measurement, failing with "failed to find the
		// requested model version" when none did. A pipeline has no queue
		// of its own, so it reports zero queue time over its successes.
		queue = tritonclient.StatDuration{Count: st.Success.Count}
	}
	out := &pb.ModelStatistics{
		Name:           name,
		Version:        pipelineVersion,
		InferenceCount: st.InferenceCount,
		ExecutionCount: st.ExecutionCount,
		InferenceStats: &pb.InferStatistics{
			Success:       dur(st.Success),
			Fail:          dur(st.Fail),
			Queue:         dur(queue),
			ComputeInput:  dur(st.ComputeInput),
			ComputeInfer:  dur(st.ComputeInfer),
			ComputeOutput: dur(st.ComputeOutput),
			CacheHit:      dur(st.CacheHit),
			CacheMiss:     dur(st.CacheMiss),
		},
	}
	if !st.LastInference.IsZero() {
		out.LastInference = uint64(max(st.LastInference.UnixMilli(), 0))
	}
	for _, m := range st.MemoryUsage {
		out.MemoryUsage = append(out.MemoryUsage, &pb.MemoryUsage{Type: m.Type, Id: m.ID, ByteSize: m.Bytes})
	}
	return out
}

// sortedNames returns the pipeline names in a stable order.
func (s *Server) sortedNames() []string {
	names := slices.Clone(s.backend.PipelineNames())
	slices.Sort(names)
	return names
}

// RepositoryIndex lists the pipelines as models: READY while Baton is ready,
// UNAVAILABLE otherwise (left out when only ready ones are asked for).
func (s *Server) RepositoryIndex(_ context.Context, req *pb.RepositoryIndexRequest) (*pb.RepositoryIndexResponse, error) {
	if req.GetRepositoryName() != "" {
		return nil, status.Errorf(codes.InvalidArgument, "repository %q: Baton has one unnamed repository of pipelines; leave repository_name empty", req.GetRepositoryName())
	}
	state, reason := "READY", ""
	if !s.backend.Ready() {
		state, reason = "UNAVAILABLE", "baton is not ready"
	}
	resp := &pb.RepositoryIndexResponse{}
	if req.GetReady() && state != "READY" {
		return resp, nil
	}
	for _, n := range s.sortedNames() {
		resp.Models = append(resp.Models, &pb.RepositoryIndexResponse_ModelIndex{Name: n, Version: pipelineVersion, State: state, Reason: reason})
	}
	return resp, nil
}

// RepositoryModelLoad is refused: pipelines are not loaded through Triton's protocol.
func (s *Server) RepositoryModelLoad(_ context.Context, req *pb.RepositoryModelLoadRequest) (*pb.RepositoryModelLoadResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "load %q: pipelines are managed through /admin/pipelines", req.GetModelName())
}

// RepositoryModelUnload is refused: pipelines are not unloaded through Triton's protocol.
func (s *Server) RepositoryModelUnload(_ context.Context, req *pb.RepositoryModelUnloadRequest) (*pb.RepositoryModelUnloadResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "unload %q: pipelines are managed through /admin/pipelines", req.GetModelName())
}

// msgNoSharedMemory is the status message of every shared-memory call and tensor.
const msgNoSharedMemory = "baton does not support shared-memory tensors; send tensor data in raw_input_contents"

// SystemSharedMemoryStatus is refused: Baton does not support shared-memory tensors.
func (s *Server) SystemSharedMemoryStatus(context.Context, *pb.SystemSharedMemoryStatusRequest) (*pb.SystemSharedMemoryStatusResponse, error) {
	return nil, status.Error(codes.Unimplemented, msgNoSharedMemory)
}

// SystemSharedMemoryRegister is refused: Baton does not support shared-memory tensors.
func (s *Server) SystemSharedMemoryRegister(context.Context, *pb.SystemSharedMemoryRegisterRequest) (*pb.SystemSharedMemoryRegisterResponse, error) {
	return nil, status.Error(codes.Unimplemented, msgNoSharedMemory)
}

// SystemSharedMemoryUnregister is refused: Baton does not support shared-memory tensors.
func (s *Server) SystemSharedMemoryUnregister(context.Context, *pb.SystemSharedMemoryUnregisterRequest) (*pb.SystemSharedMemoryUnregisterResponse, error) {
	return nil, status.Error(codes.Unimplemented, msgNoSharedMemory)
}
