package adminclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// fakeBaton is an in-memory stand-in for Baton's admin API and front doors,
// written to the same contract as the real (echo) server so the client can
// be tested without it. It records every request it receives.
type fakeBaton struct {
	mu    sync.Mutex
	specs map[string]json.RawMessage
	reqs  []seenRequest
}

// seenRequest is what the fake saw of one request.
type seenRequest struct {
	Method      string
	Path        string // escaped, as sent
	ContentType string
	Accept      string
	TargetModel string
	Body        string
}

// newFakeBaton starts a fakeBaton holding specs (name → JSON) on an
// httptest.Server that the test closes.
func newFakeBaton(t *testing.T, specs map[string]string) (*fakeBaton, *httptest.Server) {
	t.Helper()
	f := &fakeBaton{specs: map[string]json.RawMessage{}}
	for name, spec := range specs {
		f.specs[name] = json.RawMessage(spec)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/pipelines", f.create)
	mux.HandleFunc("PUT /admin/pipelines/{name}", f.put)
	mux.HandleFunc("GET /admin/pipelines", f.list)
	mux.HandleFunc("GET /admin/pipelines/{name}", f.get)
	mux.HandleFunc("DELETE /admin/pipelines/{name}", f.delete)
	mux.HandleFunc("POST /pipelines/{name}/invocations", f.invoke)
	mux.HandleFunc("POST /v2/models/{name}/infer", f.infer)
	srv := httptest.NewServer(f.record(mux))
	t.Cleanup(srv.Close)
	return f, srv
}

// requests returns the requests seen so far.
func (f *fakeBaton) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakeBaton) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "read body: "+err.Error())
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, seenRequest{
			Method:      r.Method,
			Path:        r.URL.EscapedPath(),
			ContentType: r.Header.Get("Content-Type"),
			Accept:      r.Header.Get("Accept"),
			TargetModel: r.Header.Get("X-Baton-Target-Model"),
			Body:        string(body),
		})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// readSpec reads a JSON spec body and its name the way the server does,
// answering 415 or 400 itself when it cannot.
func readSpec(w http.ResponseWriter, r *http.Request) (json.RawMessage, string, bool) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		// The real server also takes YAML; this client never sends it.
		writeError(w, http.StatusUnsupportedMediaType, "fake takes only application/json, got "+mt)
		return nil, "", false
	}
	body, _ := io.ReadAll(r.Body)
	var head struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &head); err != nil || head.Name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":    "invalid pipeline",
			"problems": []Problem{{Path: "name", Message: "required"}},
		})
		return nil, "", false
	}
	return body, head.Name, true
}

func (f *fakeBaton) create(w http.ResponseWriter, r *http.Request) {
	spec, name, ok := readSpec(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, exists := f.specs[name]; exists {
		writeError(w, http.StatusConflict, fmt.Sprintf("pipeline %q already exists", name))
		return
	}
	f.specs[name] = spec
	writeJSON(w, http.StatusCreated, spec)
}

func (f *fakeBaton) put(w http.ResponseWriter, r *http.Request) {
	spec, name, ok := readSpec(w, r)
	if !ok {
		return
	}
	if name != r.PathValue("name") {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":    "invalid pipeline",
			"problems": []Problem{{Path: "name", Message: fmt.Sprintf("%q does not match the URL's %q", name, r.PathValue("name"))}},
		})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	status := http.StatusOK
	if _, exists := f.specs[name]; !exists {
		status = http.StatusCreated
	}
	f.specs[name] = spec
	writeJSON(w, status, spec)
}

func (f *fakeBaton) list(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []json.RawMessage{}
	for _, name := range slices.Sorted(maps.Keys(f.specs)) {
		out = append(out, f.specs[name])
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipelines": out})
}

func (f *fakeBaton) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	spec, ok := f.specs[r.PathValue("name")]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("pipeline %q not found", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, spec)
}

func (f *fakeBaton) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.specs[r.PathValue("name")]; !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("pipeline %q not found", r.PathValue("name")))
		return
	}
	delete(f.specs, r.PathValue("name"))
	w.WriteHeader(http.StatusNoContent)
}

// invoke answers with the request body prefixed by the pipeline (or target
// model) that would have run it, in the Accept type (default: the request's).
func (f *fakeBaton) invoke(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	_, ok := f.specs[r.PathValue("name")]
	f.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("pipeline %q not found", r.PathValue("name")))
		return
	}
	ct := r.Header.Get("Accept")
	if ct == "" {
		ct = r.Header.Get("Content-Type")
	}
	ran := r.PathValue("name")
	if m := r.Header.Get("X-Baton-Target-Model"); m != "" {
		ran = m
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", ct)
	fmt.Fprintf(w, "%s<-%s", ran, body)
}

func (f *fakeBaton) infer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Inputs []struct {
			Name string `json:"name"`
		} `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "decode request: "+err.Error())
		return
	}
	outputs := []map[string]any{}
	for _, in := range req.Inputs {
		outputs = append(outputs, map[string]any{"name": "echo_" + in.Name})
	}
	writeJSON(w, http.StatusOK, map[string]any{"model_name": r.PathValue("name"), "outputs": outputs})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
