package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

const (
	// DefaultTimeout bounds a whole request (including reading the answer)
	// when New is given no *http.Client; long enough for a slow pipeline
	// invocation, short enough that a hung server does not hang the CLI.
	DefaultTimeout = 60 * time.Second

	// TargetModelHeader names the invocation header that picks one model of
	// a multi-model pipeline group.
	TargetModelHeader = "X-Baton-Target-Model"

	// maxAdminBody caps, in bytes, a 2xx admin answer (spec documents and
	// lists); inference answers are not capped because tensors can be large.
	maxAdminBody = 16 << 20
	// maxErrorBody caps, in bytes, how much of a non-2xx body is read.
	maxErrorBody = 64 << 10

	userAgent = "baton-adminclient"
)

// Client calls one Baton server's admin API and front doors; it is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a Client for the server at baseURL (e.g. "http://localhost:8080",
// a path prefix is kept); a nil hc means an *http.Client with DefaultTimeout.
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Apply creates or replaces the pipeline named by the spec's "name" field
// (PUT /admin/pipelines/{name}); spec is YAML or JSON and is sent as JSON.
// created reports a 201 (new pipeline) rather than a 200 (replaced), and
// stored is the spec as the server stored it.
func (c *Client) Apply(ctx context.Context, spec []byte) (created bool, stored json.RawMessage, err error) {
	doc, name, err := prepareSpec(spec)
	if err != nil {
		return false, nil, fmt.Errorf("apply pipeline: %w", err)
	}
	op := fmt.Sprintf("apply pipeline %q", name)
	r, err := c.do(ctx, op, http.MethodPut, "/admin/pipelines/"+url.PathEscape(name), doc, jsonHeaders(), maxAdminBody)
	if err != nil {
		return false, nil, err
	}
	stored, err = jsonBody(op, r.body)
	if err != nil {
		return false, nil, err
	}
	return r.status == http.StatusCreated, stored, nil
}

// Create creates the pipeline described by spec (POST /admin/pipelines),
// failing with ErrConflict if its name is taken; spec is YAML or JSON and is
// sent as JSON. It returns the spec as the server stored it.
func (c *Client) Create(ctx context.Context, spec []byte) (json.RawMessage, error) {
	doc, name, err := prepareSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("create pipeline: %w", err)
	}
	op := fmt.Sprintf("create pipeline %q", name)
	r, err := c.do(ctx, op, http.MethodPost, "/admin/pipelines", doc, jsonHeaders(), maxAdminBody)
	if err != nil {
		return nil, err
	}
	return jsonBody(op, r.body)
}

// Get returns the stored spec of pipeline name (GET /admin/pipelines/{name}).
func (c *Client) Get(ctx context.Context, name string) (json.RawMessage, error) {
	op := fmt.Sprintf("get pipeline %q", name)
	if name == "" {
		return nil, fmt.Errorf("%s: %w: empty name", op, ErrInvalid)
	}
	r, err := c.do(ctx, op, http.MethodGet, "/admin/pipelines/"+url.PathEscape(name), nil, jsonHeaders(), maxAdminBody)
	if err != nil {
		return nil, err
	}
	return jsonBody(op, r.body)
}

// List returns every stored spec (GET /admin/pipelines), in the server's order.
func (c *Client) List(ctx context.Context) ([]json.RawMessage, error) {
	const op = "list pipelines"
	r, err := c.do(ctx, op, http.MethodGet, "/admin/pipelines", nil, jsonHeaders(), maxAdminBody)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Pipelines *[]json.RawMessage `json:"pipelines"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		return nil, fmt.Errorf("%s: decode answer: %w", op, err)
	}
	if doc.Pipelines == nil {
		return nil, fmt.Errorf("%s: decode answer: no \"pipelines\" field", op)
	}
	return *doc.Pipelines, nil
}

// Delete removes pipeline name (DELETE /admin/pipelines/{name}); a missing pipeline gives ErrNotFound.
func (c *Client) Delete(ctx context.Context, name string) error {
	op := fmt.Sprintf("delete pipeline %q", name)
	if name == "" {
		return fmt.Errorf("%s: %w: empty name", op, ErrInvalid)
	}
	_, err := c.do(ctx, op, http.MethodDelete, "/admin/pipelines/"+url.PathEscape(name), nil, jsonHeaders(), maxAdminBody)
	return err
}

// Invoke runs pipeline name on body through the SageMaker-style front door
// (POST /pipelines/{name}/invocations) and returns the answer as is with its
// Content-Type. contentType is "text/csv" or "application/json" (empty means
// JSON); an empty accept lets the server choose; a non-empty targetModel is
// sent as X-Baton-Target-Model.
func (c *Client) Invoke(ctx context.Context, name string, body []byte, contentType, accept, targetModel string) (respBody []byte, respContentType string, err error) {
	op := fmt.Sprintf("invoke pipeline %q", name)
	if name == "" {
		return nil, "", fmt.Errorf("%s: %w: empty name", op, ErrInvalid)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	h := http.Header{"Content-Type": {contentType}}
	if accept != "" {
		h.Set("Accept", accept)
	}
	if targetModel != "" {
		h.Set(TargetModelHeader, targetModel)
	}
	r, err := c.do(ctx, op, http.MethodPost, "/pipelines/"+url.PathEscape(name)+"/invocations", body, h, 0)
	if err != nil {
		return nil, "", err
	}
	return r.body, r.header.Get("Content-Type"), nil
}

// Infer sends a Triton v2 JSON inference request for model or pipeline name
// (POST /v2/models/{name}/infer) and returns the JSON answer.
func (c *Client) Infer(ctx context.Context, name string, v2JSON []byte) (json.RawMessage, error) {
	op := fmt.Sprintf("infer %q", name)
	if name == "" {
		return nil, fmt.Errorf("%s: %w: empty name", op, ErrInvalid)
	}
	r, err := c.do(ctx, op, http.MethodPost, "/v2/models/"+url.PathEscape(name)+"/infer", v2JSON, jsonHeaders(), 0)
	if err != nil {
		return nil, err
	}
	return jsonBody(op, r.body)
}

// reply is a 2xx answer, read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and reads the answer: a 2xx gives a reply (body
// capped at limit bytes, 0 for no cap), anything else an *APIError, and a
// failed or cancelled transfer the transport error or ctx.Err(). Every
// error is prefixed with op.
func (c *Client) do(ctx context.Context, op, method, path string, body []byte, h http.Header, limit int64) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return reply{}, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", userAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, transportErr(ctx, op, err)
	}
	defer resp.Body.Close()

	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	var src io.Reader = resp.Body
	switch {
	case !ok:
		src = io.LimitReader(resp.Body, maxErrorBody)
	case limit > 0:
		src = io.LimitReader(resp.Body, limit+1)
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return reply{}, transportErr(ctx, op, fmt.Errorf("read answer: %w", err))
	}
	if !ok {
		return reply{}, fmt.Errorf("%s: %w", op, decodeAPIError(resp.StatusCode, data))
	}
	if limit > 0 && int64(len(data)) > limit {
		return reply{}, fmt.Errorf("%s: answer larger than %d bytes", op, limit)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// transportErr reports ctx's own error when ctx ended the call, so callers
// can match context.Canceled and context.DeadlineExceeded directly.
func transportErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func jsonHeaders() http.Header {
	return http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
}

// jsonBody checks that a 2xx body is one JSON document.
func jsonBody(op string, body []byte) (json.RawMessage, error) {
	if !json.Valid(body) {
		return nil, fmt.Errorf("%s: decode answer: not a JSON document: %q", op, snippet(body))
	}
	return json.RawMessage(body), nil
}

// prepareSpec turns a YAML or JSON spec into the JSON document to send and
// reads its "name" field. JSON objects are sent byte for byte (trimmed), so
// number formatting and key order survive; anything else is parsed as YAML,
// where duplicate keys are an error rather than a silent overwrite.
func prepareSpec(spec []byte) (doc []byte, name string, err error) {
	doc = bytes.TrimSpace(spec)
	if len(doc) == 0 {
		return nil, "", fmt.Errorf("%w: empty spec", ErrInvalid)
	}
	if doc[0] != '{' || !json.Valid(doc) {
		// YAML 1.2, as the server reads it: a tensor called Y or ON stays a
		// string (YAML 1.1 converters would turn it into a boolean).
		var tree any
		if err := yaml.Unmarshal(spec, &tree); err != nil {
			return nil, "", fmt.Errorf("%w: parse spec as YAML: %w", ErrInvalid, err)
		}
		if doc, err = json.Marshal(tree); err != nil {
			return nil, "", fmt.Errorf("%w: spec is not JSON-compatible (mapping keys must be strings): %w", ErrInvalid, err)
		}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(doc, &fields); err != nil || fields == nil {
		return nil, "", fmt.Errorf("%w: spec is not a mapping", ErrInvalid)
	}
	raw, ok := fields["name"]
	if !ok {
		return nil, "", fmt.Errorf("%w: spec has no \"name\" field", ErrInvalid)
	}
	if err := json.Unmarshal(raw, &name); err != nil || name == "" {
		return nil, "", fmt.Errorf("%w: spec's \"name\" must be a non-empty string, got %s", ErrInvalid, raw)
	}
	return doc, name, nil
}

// GetRaw fetches any JSON document of the admin API (e.g.
// "/admin/placements?pipeline=x"), for read-only views without a typed call.
func (c *Client) GetRaw(ctx context.Context, path string) (json.RawMessage, error) {
	r, err := c.do(ctx, "get "+path, http.MethodGet, path, nil, nil, maxAdminBody)
	if err != nil {
		return nil, err
	}
	return jsonBody("get "+path, r.body)
}

// GetText fetches a non-JSON document of the admin API (e.g. a text
// rendering) and returns its body and content type.
func (c *Client) GetText(ctx context.Context, path string) ([]byte, string, error) {
	r, err := c.do(ctx, "get "+path, http.MethodGet, path, nil, nil, maxAdminBody)
	if err != nil {
		return nil, "", err
	}
	return r.body, r.header.Get("Content-Type"), nil
}
