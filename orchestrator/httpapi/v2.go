package httpapi

import (
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/orchestrator/v2http"
	"github.com/batonhq/baton/tritonclient"
)

type atomicCounter struct{ n atomic.Uint64 }

func (a *atomicCounter) next() uint64 { return a.n.Add(1) }

func (s *Server) serverMetadata(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"name":       "baton",
		"version":    s.opts.Version,
		"extensions": []string{"binary_tensor_data", "parameters", "statistics"},
	})
}

func (s *Server) serverReady(c echo.Context) error {
	if !s.svc.Ready() {
		return errorf(http.StatusServiceUnavailable, "baton is not ready")
	}
	return c.NoContent(http.StatusOK)
}

// plan resolves the :name and optional :version path parameters.
func (s *Server) plan(c echo.Context) (*pipeline.Plan, error) {
	name := c.Param("name")
	if v := c.Param("version"); v != "" && v != "1" {
		return nil, errorf(http.StatusNotFound, "pipeline %q has no version %q (pipelines have version 1)", name, v)
	}
	p, ok := s.svc.Plan(name)
	if !ok {
		return nil, errorf(http.StatusNotFound, "unknown pipeline %q", name)
	}
	return p, nil
}

type tensorMetadataJSON struct {
	Name     string  `json:"name"`
	DataType string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type modelMetadataJSON struct {
	Name     string               `json:"name"`
	Versions []string             `json:"versions"`
	Platform string               `json:"platform"`
	Inputs   []tensorMetadataJSON `json:"inputs"`
	Outputs  []tensorMetadataJSON `json:"outputs"`
}

func metadataJSON(p *pipeline.Plan) modelMetadataJSON {
	md := p.Metadata()
	conv := func(ts []tritonclient.TensorMetadata) []tensorMetadataJSON {
		out := make([]tensorMetadataJSON, len(ts))
		for i, t := range ts {
			out[i] = tensorMetadataJSON{Name: t.Name, DataType: string(t.DataType), Shape: t.Shape}
		}
		return out
	}
	return modelMetadataJSON{Name: md.Name, Versions: md.Versions, Platform: md.Platform, Inputs: conv(md.Inputs), Outputs: conv(md.Outputs)}
}

func (s *Server) modelMetadata(c echo.Context) error {
	p, err := s.plan(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, metadataJSON(p))
}

func (s *Server) modelReady(c echo.Context) error {
	if _, err := s.plan(c); err != nil {
		return err
	}
	if !s.svc.Ready() {
		return errorf(http.StatusServiceUnavailable, "baton is not ready")
	}
	return c.NoContent(http.StatusOK)
}

// modelConfig answers as a Triton model config would, for clients such as
// perf_analyzer that read max_batch_size and dims from it.
func (s *Server) modelConfig(c echo.Context) error {
	p, err := s.plan(c)
	if err != nil {
		return err
	}
	type tensorCfg struct {
		Name     string  `json:"name"`
		DataType string  `json:"data_type"`
		Dims     []int64 `json:"dims"`
	}
	conv := func(ts []pipeline.TensorSpec) []tensorCfg {
		out := make([]tensorCfg, len(ts))
		for i, t := range ts {
			dims := t.Shape
			if p.Spec.MaxBatchSize > 0 && len(dims) > 0 {
				dims = dims[1:]
			}
			dt := "TYPE_" + t.DataType
			if t.DataType == "BYTES" {
				dt = "TYPE_STRING"
			}
			out[i] = tensorCfg{Name: t.Name, DataType: dt, Dims: dims}
		}
		return out
	}
	return c.JSON(http.StatusOK, map[string]any{
		"name":           p.Spec.Name,
		"platform":       "baton_pipeline",
		"max_batch_size": p.Spec.MaxBatchSize,
		// perf_analyzer, asked for no particular version, finds the one to
		// measure through the version policy, as with any Triton model.
		"version_policy": map[string]any{"latest": map[string]any{"num_versions": 1}},
		"input":          conv(p.Inputs),
		"output":         conv(p.Outputs),
	})
}

func (s *Server) modelStats(c echo.Context) error {
	p, err := s.plan(c)
	if err != nil {
		return err
	}
	st, _ := s.svc.Statistics(p.Spec.Name)
	dur := func(d tritonclient.StatDuration) map[string]uint64 {
		return map[string]uint64{"count": d.Count, "ns": uint64(d.Total)}
	}
	var last int64
	if !st.LastInference.IsZero() {
		last = st.LastInference.UnixMilli()
	}
	return c.JSON(http.StatusOK, map[string]any{"model_stats": []any{map[string]any{
		"name": st.Name, "version": st.Version, "last_inference": last,
		"inference_count": st.InferenceCount, "execution_count": st.ExecutionCount,
		"inference_stats": map[string]any{
			"success": dur(st.Success), "fail": dur(st.Fail),
			"queue": dur(st.Queue), "compute_input": dur(st.ComputeInput),
			"compute_infer": dur(st.ComputeInfer), "compute_output": dur(st.ComputeOutput),
		},
	}}})
}

func (s *Server) repositoryIndex(c echo.Context) error {
	type row struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		State   string `json:"state"`
	}
	rows := []row{}
	for _, n := range s.svc.PipelineNames() {
		rows = append(rows, row{Name: n, Version: "1", State: "READY"})
	}
	return c.JSON(http.StatusOK, rows)
}

// infer is POST /v2/models/{name}/infer: JSON or JSON + binary tensors in,
// the same form out.
func (s *Server) infer(c echo.Context) error {
	p, err := s.plan(c)
	if err != nil {
		return err
	}
	headerLen := -1
	if h := c.Request().Header.Get("Inference-Header-Content-Length"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "header Inference-Header-Content-Length: %q is not a non-negative integer", h)
		}
		headerLen = n
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err // the body limit middleware's 413 surfaces here
	}
	vreq, err := v2http.DecodeRequest(body, headerLen)
	if err != nil {
		return errorf(http.StatusBadRequest, "%s", err.Error())
	}
	timeout, err := s.requestTimeout(c, vreq.Parameters)
	if err != nil {
		return err
	}
	target, err := targetModel(c, vreq.Parameters)
	if err != nil {
		return err
	}
	req := &executor.Request{ID: vreq.ID, Inputs: vreq.Inputs, TargetModel: target, Priority: priority(vreq.Parameters)}
	for _, o := range vreq.Outputs {
		req.Outputs = append(req.Outputs, o.Name)
	}
	res, err := s.run(c, "v2http", p.Spec.Name, req, timeout)
	if err != nil {
		return err
	}
	out, hdrLen, err := v2http.EncodeResponse(&v2http.Response{ModelName: p.Spec.Name, ModelVersion: "1", ID: vreq.ID, Outputs: res.Outputs}, vreq)
	if err != nil {
		return err
	}
	if hdrLen >= 0 {
		c.Response().Header().Set("Inference-Header-Content-Length", strconv.Itoa(hdrLen))
		return c.Blob(http.StatusOK, echo.MIMEOctetStream, out)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, out)
}

func priority(params map[string]any) int64 {
	switch v := params["priority"].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}
