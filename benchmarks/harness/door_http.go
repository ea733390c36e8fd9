package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/batonhq/baton/tritonclient"
)

// openHTTP probes a v2 HTTP server (Triton or Baton) and returns a Conn
// for its v2 or /invocations door.
func openHTTP(ctx context.Context, ep Endpoint) (*Conn, error) {
	base := "http://" + hostPort(ep.URL)
	if _, err := url.Parse(base); err != nil {
		return nil, fmt.Errorf("%w: url %q: %w", ErrBadFlag, ep.URL, err)
	}
	hc := newHTTPClient()
	closer := func() error { hc.CloseIdleConnections(); return nil }
	info, err := probeHTTP(ctx, ep, hc, base)
	if err != nil {
		closer()
		return nil, err
	}
	var d door = &v2HTTPDoor{hc: hc, base: base, ep: ep}
	if ep.Door == DoorInvocations {
		d = &invocationsDoor{hc: hc, base: base, ep: ep}
	}
	return &Conn{ep: ep, info: info, door: d, stats: &HTTPStats{Base: base, Client: hc}, closer: closer}, nil
}

// modelPath is /v2/models/{model}[/versions/{version}].
func modelPath(model, version string) string {
	p := "/v2/models/" + url.PathEscape(model)
	if version != "" {
		p += "/versions/" + url.PathEscape(version)
	}
	return p
}

func probeHTTP(ctx context.Context, ep Endpoint, hc *http.Client, base string) (*ModelInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, ep.ProbeTimeout)
	defer cancel()
	status, _, err := httpGet(ctx, hc, base+"/v2/health/ready")
	if err != nil {
		return nil, fmt.Errorf("%w: no v2 HTTP server answers at %s: %w", ErrUnreachable, base, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%w: %s/v2/health/ready answered %d", ErrNotReady, base, status)
	}
	var sm struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := getJSON(ctx, hc, base+"/v2", &sm); err != nil {
		return nil, fmt.Errorf("%w: server metadata: %w", ErrNotReady, err)
	}
	mp := modelPath(ep.Model, ep.Version)
	if status, body, err := httpGet(ctx, hc, base+mp+"/ready"); err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("%w: model %q is not ready on %s (%s %s): %s", ErrNotReady, ep.Model, base, sm.Name, sm.Version, describe(status, body, err))
	}
	var md struct {
		Name     string   `json:"name"`
		Versions []string `json:"versions"`
		Platform string   `json:"platform"`
		Inputs   []struct {
			Name     string  `json:"name"`
			DataType string  `json:"datatype"`
			Shape    []int64 `json:"shape"`
		} `json:"inputs"`
		Outputs []struct {
			Name     string  `json:"name"`
			DataType string  `json:"datatype"`
			Shape    []int64 `json:"shape"`
		} `json:"outputs"`
	}
	if err := getJSON(ctx, hc, base+mp, &md); err != nil {
		return nil, fmt.Errorf("%w: metadata of %q: %w", ErrNotReady, ep.Model, err)
	}
	var cfg struct {
		Platform     string `json:"platform"`
		MaxBatchSize int    `json:"max_batch_size"`
		Ensemble     *struct {
			Step []struct {
				ModelName string `json:"model_name"`
			} `json:"step"`
		} `json:"ensemble_scheduling"`
	}
	if err := getJSON(ctx, hc, base+mp+"/config", &cfg); err != nil {
		return nil, fmt.Errorf("%w: configuration of %q: %w", ErrNotReady, ep.Model, err)
	}
	info := &ModelInfo{ServerName: sm.Name, ServerVersion: sm.Version, Model: md.Name, Versions: md.Versions,
		Platform: md.Platform, MaxBatchSize: cfg.MaxBatchSize}
	if info.Platform == "" {
		info.Platform = cfg.Platform
	}
	for _, in := range md.Inputs {
		info.Inputs = append(info.Inputs, tritonclient.TensorMetadata{Name: in.Name, DataType: tritonclient.DataType(in.DataType), Shape: in.Shape})
	}
	for _, out := range md.Outputs {
		info.Outputs = append(info.Outputs, tritonclient.TensorMetadata{Name: out.Name, DataType: tritonclient.DataType(out.DataType), Shape: out.Shape})
	}
	if cfg.Ensemble != nil {
		for _, st := range cfg.Ensemble.Step {
			info.Composing = append(info.Composing, st.ModelName)
		}
	}
	return info, checkInfo(ep, info)
}

func httpGet(ctx context.Context, hc *http.Client, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, body, err
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	status, body, err := httpGet(ctx, hc, u)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, describe(status, body, nil))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// describe renders a failed HTTP exchange: the error, or the status with
// the {"error": ...} message of the body.
func describe(status int, body []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Sprintf("HTTP %d: %s", status, e.Error)
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return fmt.Sprintf("HTTP %d: %s", status, strings.TrimSpace(string(body)))
}

// httpBody is one prepared request body.
type httpBody struct {
	body      []byte
	headerLen int // Inference-Header-Content-Length, -1 for none
}

// postTimed posts a prepared body and reads the whole answer, timing the
// client's own send and receive with httptrace.
func postTimed(ctx context.Context, hc *http.Client, u string, b httpBody, header http.Header) (Reply, error) {
	start := time.Now()
	var wrote, first time.Time
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { wrote = time.Now() },
		GotFirstResponseByte: func() { first = time.Now() },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, u, bytes.NewReader(b.body))
	if err != nil {
		return Reply{}, err
	}
	req.Header = header.Clone()
	if b.headerLen >= 0 {
		req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(b.headerLen))
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Reply{}, ctx.Err()
		}
		return Reply{}, err
	}
	defer resp.Body.Close()
	var body []byte
	if resp.StatusCode == http.StatusOK {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
	end := time.Now()
	r := Reply{Timing: ParseServerTiming(resp.Header.Get("Server-Timing"))}
	if !wrote.IsZero() {
		r.Send = wrote.Sub(start)
	}
	if !first.IsZero() {
		r.Recv = end.Sub(first)
	}
	if err != nil {
		return r, err
	}
	if resp.StatusCode != http.StatusOK {
		return r, errors.New(describe(resp.StatusCode, body, nil))
	}
	return r, nil
}

// v2HTTPDoor posts v2 inference requests, binary tensors by default.
type v2HTTPDoor struct {
	hc     *http.Client
	base   string
	ep     Endpoint
	url    string
	header http.Header
	bodies []httpBody
}

func (d *v2HTTPDoor) prepare(_ *ModelInfo, payloads []Payload) error {
	d.url = d.base + modelPath(d.ep.Model, d.ep.Version) + "/infer"
	d.header = http.Header{"Content-Type": {"application/json"}}
	if d.ep.TargetModel != "" {
		d.header.Set("X-Baton-Target-Model", d.ep.TargetModel)
	}
	if !d.ep.JSON {
		d.header.Set("Content-Type", "application/octet-stream")
	}
	d.bodies = make([]httpBody, len(payloads))
	for i, p := range payloads {
		var err error
		if d.ep.JSON {
			d.bodies[i], err = v2JSONBody(p)
		} else {
			d.bodies[i], err = v2BinaryBody(p)
		}
		if err != nil {
			return fmt.Errorf("%w: payload %d: %w", ErrBadFlag, i, err)
		}
	}
	return nil
}

func (d *v2HTTPDoor) send(ctx context.Context, i int) (Reply, error) {
	return postTimed(ctx, d.hc, d.url, d.bodies[i%len(d.bodies)], d.header)
}

type v2Input struct {
	Name       string         `json:"name"`
	DataType   string         `json:"datatype"`
	Shape      []int64        `json:"shape"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       any            `json:"data,omitempty"`
}

// v2BinaryBody is a JSON header with every input as binary data, asking
// for binary outputs, as perf_analyzer's HTTP client sends.
func v2BinaryBody(p Payload) (httpBody, error) {
	hdr := struct {
		Inputs     []v2Input      `json:"inputs"`
		Parameters map[string]any `json:"parameters"`
	}{Parameters: map[string]any{"binary_data_output": true}}
	var raw []byte
	for _, t := range p.Inputs {
		if err := t.Validate(); err != nil {
			return httpBody{}, err
		}
		hdr.Inputs = append(hdr.Inputs, v2Input{Name: t.Name, DataType: string(t.DataType), Shape: t.Shape,
			Parameters: map[string]any{"binary_data_size": len(t.Raw)}})
		raw = append(raw, t.Raw...)
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		return httpBody{}, err
	}
	return httpBody{body: append(h, raw...), headerLen: len(h)}, nil
}

// v2JSONBody is a pure JSON request with flat "data" arrays.
func v2JSONBody(p Payload) (httpBody, error) {
	var doc struct {
		Inputs []v2Input `json:"inputs"`
	}
	for _, t := range p.Inputs {
		data, err := jsonValues(t)
		if err != nil {
			return httpBody{}, err
		}
		doc.Inputs = append(doc.Inputs, v2Input{Name: t.Name, DataType: string(t.DataType), Shape: t.Shape, Data: data})
	}
	b, err := json.Marshal(doc)
	return httpBody{body: b, headerLen: -1}, err
}

// jsonValues decodes a tensor's raw contents into JSON-encodable values.
func jsonValues(t tritonclient.Tensor) (any, error) {
	switch t.DataType {
	case tritonclient.Bytes:
		bs, err := t.BytesValues()
		if err != nil {
			return nil, err
		}
		out := make([]string, len(bs))
		for i, b := range bs {
			out[i] = string(b)
		}
		return out, nil
	case tritonclient.Bool:
		return tritonclient.Values[bool](t)
	case tritonclient.Uint8:
		v, err := tritonclient.Values[uint8](t)
		if err != nil {
			return nil, err
		}
		out := make([]int, len(v)) // []uint8 would marshal as base64
		for i, x := range v {
			out[i] = int(x)
		}
		return out, nil
	case tritonclient.Uint16:
		return tritonclient.Values[uint16](t)
	case tritonclient.Uint32:
		return tritonclient.Values[uint32](t)
	case tritonclient.Uint64:
		return tritonclient.Values[uint64](t)
	case tritonclient.Int8:
		return tritonclient.Values[int8](t)
	case tritonclient.Int16:
		return tritonclient.Values[int16](t)
	case tritonclient.Int32:
		return tritonclient.Values[int32](t)
	case tritonclient.Int64:
		return tritonclient.Values[int64](t)
	case tritonclient.FP32:
		return tritonclient.Values[float32](t)
	case tritonclient.FP64:
		return tritonclient.Values[float64](t)
	}
	return nil, fmt.Errorf("input %q: %s cannot travel as JSON; use binary data", t.Name, t.DataType)
}

// invocationsDoor posts CSV rows (or JSON instances) to Baton's
// /pipelines/{name}/invocations.
type invocationsDoor struct {
	hc     *http.Client
	base   string
	ep     Endpoint
	url    string
	header http.Header
	bodies []httpBody
}

func (d *invocationsDoor) prepare(info *ModelInfo, payloads []Payload) error {
	if len(info.Inputs) != 1 {
		return fmt.Errorf("%w: /invocations needs a single-input pipeline; %q has %d inputs", ErrBadFlag, info.Model, len(info.Inputs))
	}
	d.url = d.base + "/pipelines/" + url.PathEscape(d.ep.Model) + "/invocations"
	d.header = http.Header{"Content-Type": {"text/csv"}, "Accept": {"application/json"}}
	if d.ep.JSON {
		d.header.Set("Content-Type", "application/json")
	}
	if d.ep.TargetModel != "" {
		d.header.Set("X-Baton-Target-Model", d.ep.TargetModel)
	}
	d.bodies = make([]httpBody, len(payloads))
	for i, p := range payloads {
		rows, err := tensorRows(p.Inputs[0])
		if err != nil {
			return fmt.Errorf("%w: payload %d: %w", ErrBadFlag, i, err)
		}
		body := []byte(strings.Join(rows, "\n") + "\n")
		if d.ep.JSON {
			if body, err = json.Marshal(map[string]any{"instances": rows}); err != nil {
				return err
			}
		}
		d.bodies[i] = httpBody{body: body, headerLen: -1}
	}
	return nil
}

func (d *invocationsDoor) send(ctx context.Context, i int) (Reply, error) {
	return postTimed(ctx, d.hc, d.url, d.bodies[i%len(d.bodies)], d.header)
}

// tensorRows renders a pipeline input as CSV lines: each BYTES element is a
// line as it is; a numeric [rows, fields] tensor gives one line per row.
func tensorRows(t tritonclient.Tensor) ([]string, error) {
	if t.DataType == tritonclient.Bytes {
		bs, err := t.BytesValues()
		if err != nil {
			return nil, err
		}
		rows := make([]string, len(bs))
		for i, b := range bs {
			rows[i] = string(b)
		}
		return rows, nil
	}
	vals, err := jsonValues(t)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(vals)
	var flat []json.Number
	if err := json.Unmarshal(b, &flat); err != nil {
		return nil, fmt.Errorf("input %q: %s rows cannot be written as CSV", t.Name, t.DataType)
	}
	width := 1
	if len(t.Shape) >= 2 {
		width = int(t.Shape[len(t.Shape)-1])
	}
	if width <= 0 || len(flat)%width != 0 {
		return nil, fmt.Errorf("input %q: shape %v does not make rows", t.Name, t.Shape)
	}
	var rows []string
	for r := 0; r < len(flat); r += width {
		fields := make([]string, width)
		for j := range fields {
			fields[j] = flat[r+j].String()
		}
		rows = append(rows, strings.Join(fields, ","))
	}
	return rows, nil
}

// HTTPStats reads model statistics over the v2 HTTP statistics extension
// (GET /v2/models[/{model}[/versions/{v}]]/stats), from Triton or Baton.
type HTTPStats struct {
	// Base is http://host:port.
	Base   string
	Client *http.Client
}

// ModelStatistics implements StatsReader.
func (h *HTTPStats) ModelStatistics(ctx context.Context, model, version string) ([]tritonclient.ModelStats, error) {
	u := h.Base + "/v2/models/stats"
	if model != "" {
		u = h.Base + modelPath(model, version) + "/stats"
	}
	type dur struct {
		Count uint64 `json:"count"`
		Ns    uint64 `json:"ns"`
	}
	var doc struct {
		ModelStats []struct {
			Name           string `json:"name"`
			Version        string `json:"version"`
			LastInference  int64  `json:"last_inference"`
			InferenceCount uint64 `json:"inference_count"`
			ExecutionCount uint64 `json:"execution_count"`
			InferenceStats struct {
				Success       dur `json:"success"`
				Fail          dur `json:"fail"`
				Queue         dur `json:"queue"`
				ComputeInput  dur `json:"compute_input"`
				ComputeInfer  dur `json:"compute_infer"`
				ComputeOutput dur `json:"compute_output"`
				CacheHit      dur `json:"cache_hit"`
				CacheMiss     dur `json:"cache_miss"`
			} `json:"inference_stats"`
		} `json:"model_stats"`
	}
	hc := h.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	if err := getJSON(ctx, hc, u, &doc); err != nil {
		return nil, err
	}
	conv := func(d dur) tritonclient.StatDuration {
		return tritonclient.StatDuration{Count: d.Count, Total: time.Duration(d.Ns)}
	}
	out := make([]tritonclient.ModelStats, 0, len(doc.ModelStats))
	for _, m := range doc.ModelStats {
		is := m.InferenceStats
		s := tritonclient.ModelStats{Name: m.Name, Version: m.Version, InferenceCount: m.InferenceCount, ExecutionCount: m.ExecutionCount,
			Success: conv(is.Success), Fail: conv(is.Fail), Queue: conv(is.Queue), ComputeInput: conv(is.ComputeInput),
			ComputeInfer: conv(is.ComputeInfer), ComputeOutput: conv(is.ComputeOutput), CacheHit: conv(is.CacheHit), CacheMiss: conv(is.CacheMiss)}
		if m.LastInference > 0 {
			s.LastInference = time.UnixMilli(m.LastInference)
		}
		out = append(out, s)
	}
	return out, nil
}
