package adminclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestApply(t *testing.T) {
	tests := []struct {
		name        string
		existing    map[string]string
		spec        string
		wantCreated bool
		wantStored  string
		wantReq     seenRequest
	}{
		{
			name:        "json creates",
			spec:        `{"name":"ingest","stages":[]}`,
			wantCreated: true,
			wantStored:  `{"name":"ingest","stages":[]}`,
			wantReq: seenRequest{Method: "PUT", Path: "/admin/pipelines/ingest", ContentType: "application/json",
				Accept: "application/json", Body: `{"name":"ingest","stages":[]}`},
		},
		{
			name:        "json replaces",
			existing:    map[string]string{"ingest": `{"name":"ingest","old":true}`},
			spec:        `{"name":"ingest","stages":[]}`,
			wantCreated: false,
			wantStored:  `{"name":"ingest","stages":[]}`,
			wantReq: seenRequest{Method: "PUT", Path: "/admin/pipelines/ingest", ContentType: "application/json",
				Accept: "application/json", Body: `{"name":"ingest","stages":[]}`},
		},
		{
			// JSON is sent as written (only trimmed): key order and "1.0" survive.
			name:        "json sent byte for byte",
			spec:        "\n  {\"stages\": [], \"name\": \"x\", \"scale\": 1.0}\n",
			wantCreated: true,
			wantStored:  `{"stages":[],"name":"x","scale":1.0}`,
			wantReq: seenRequest{Method: "PUT", Path: "/admin/pipelines/x", ContentType: "application/json",
				Accept: "application/json", Body: `{"stages": [], "name": "x", "scale": 1.0}`},
		},
		{
			// YAML becomes JSON on the client (keys sorted by the converter).
			name:        "yaml converted",
			spec:        "name: ocr\nstages:\n  - model: det\n    version: 1\n  - model: rec # recogniser\n    inputs: {X: det.boxes}\n",
			wantCreated: true,
			wantStored:  `{"name":"ocr","stages":[{"model":"det","version":1},{"inputs":{"X":"det.boxes"},"model":"rec"}]}`,
			wantReq: seenRequest{Method: "PUT", Path: "/admin/pipelines/ocr", ContentType: "application/json",
				Accept: "application/json", Body: `{"name":"ocr","stages":[{"model":"det","version":1},{"inputs":{"X":"det.boxes"},"model":"rec"}]}`},
		},
		{
			// The client does not judge names (the server does) but must
			// escape them: "/" would otherwise change the route.
			name:        "name escaped in path",
			spec:        `{"name":"a b/c"}`,
			wantCreated: true,
			wantStored:  `{"name":"a b/c"}`,
			wantReq: seenRequest{Method: "PUT", Path: "/admin/pipelines/a%20b%2Fc", ContentType: "application/json",
				Accept: "application/json", Body: `{"name":"a b/c"}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake, srv := newFakeBaton(t, tc.existing)
			c := New(srv.URL, srv.Client())
			created, stored, err := c.Apply(t.Context(), []byte(tc.spec))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if created != tc.wantCreated {
				t.Errorf("created = %v, want %v", created, tc.wantCreated)
			}
			if diff := cmp.Diff(tc.wantStored, string(stored)); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]seenRequest{tc.wantReq}, fake.requests()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyRejectsSpecBeforeSending(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		wantMsg string // substring of the error
	}{
		{name: "empty", spec: " \n", wantMsg: "empty spec"},
		{name: "json without name", spec: `{"stages":[]}`, wantMsg: `no "name" field`},
		{name: "yaml without name", spec: "stages: []\n", wantMsg: `no "name" field`},
		{name: "empty name", spec: `{"name":""}`, wantMsg: `"name" must be a non-empty string`},
		{name: "numeric name", spec: "name: 42\n", wantMsg: `"name" must be a non-empty string, got 42`},
		{name: "top-level list", spec: "- name: x\n", wantMsg: "not a mapping"},
		{name: "scalar", spec: "just words", wantMsg: "not a mapping"},
		{name: "duplicate yaml key", spec: "name: a\nname: b\n", wantMsg: "parse spec as YAML"},
		{name: "broken yaml", spec: "name: [a\n", wantMsg: "parse spec as YAML"},
	}
	fake, srv := newFakeBaton(t, nil)
	c := New(srv.URL, srv.Client())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Apply(t.Context(), []byte(tc.spec))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Apply: err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Apply: err = %q, want it to mention %q", err, tc.wantMsg)
			}
			if _, err := c.Create(t.Context(), []byte(tc.spec)); !errors.Is(err, ErrInvalid) {
				t.Errorf("Create: err = %v, want ErrInvalid", err)
			}
		})
	}
	if got := fake.requests(); len(got) != 0 {
		t.Errorf("invalid specs reached the server: %+v", got)
	}
}

func TestCreate(t *testing.T) {
	fake, srv := newFakeBaton(t, map[string]string{"taken": `{"name":"taken"}`})
	c := New(srv.URL, srv.Client())

	stored, err := c.Create(t.Context(), []byte("name: fresh\n"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if diff := cmp.Diff(`{"name":"fresh"}`, string(stored)); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}

	_, err = c.Create(t.Context(), []byte(`{"name":"taken","v":2}`))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Create existing: err = %v, want ErrConflict", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Errorf("Create existing: err = %#v, want *APIError with status 409", err)
	}

	want := []seenRequest{
		{Method: "POST", Path: "/admin/pipelines", ContentType: "application/json", Accept: "application/json", Body: `{"name":"fresh"}`},
		{Method: "POST", Path: "/admin/pipelines", ContentType: "application/json", Accept: "application/json", Body: `{"name":"taken","v":2}`},
	}
	if diff := cmp.Diff(want, fake.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestGetListDelete(t *testing.T) {
	fake, srv := newFakeBaton(t, map[string]string{
		"b": `{"name":"b","stages":[{"model":"m"}]}`,
		"a": `{"name":"a"}`,
	})
	c := New(srv.URL, srv.Client())
	ctx := t.Context()

	got, err := c.Get(ctx, "b")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(`{"name":"b","stages":[{"model":"m"}]}`, string(got)); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}

	_, err = c.Get(ctx, "nope")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing: err = %v, want ErrNotFound", err)
	}
	if want := `get pipeline "nope": HTTP 404: pipeline "nope" not found`; err == nil || err.Error() != want {
		t.Errorf("Get missing: err = %q, want %q", err, want)
	}

	list, err := c.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	wantList := []string{`{"name":"a"}`, `{"name":"b","stages":[{"model":"m"}]}`}
	if diff := cmp.Diff(wantList, rawStrings(list)); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	list, err = c.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff(wantList[1:], rawStrings(list)); diff != "" {
		t.Errorf("List after Delete (-want +got):\n%s", diff)
	}

	j := "application/json"
	want := []seenRequest{
		{Method: "GET", Path: "/admin/pipelines/b", ContentType: j, Accept: j},
		{Method: "GET", Path: "/admin/pipelines/nope", ContentType: j, Accept: j},
		{Method: "GET", Path: "/admin/pipelines", ContentType: j, Accept: j},
		{Method: "DELETE", Path: "/admin/pipelines/a", ContentType: j, Accept: j},
		{Method: "DELETE", Path: "/admin/pipelines/a", ContentType: j, Accept: j},
		{Method: "GET", Path: "/admin/pipelines", ContentType: j, Accept: j},
	}
	if diff := cmp.Diff(want, fake.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestListEmpty(t *testing.T) {
	_, srv := newFakeBaton(t, nil)
	list, err := New(srv.URL, srv.Client()).List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if list == nil || len(list) != 0 {
		t.Errorf("List = %#v, want empty non-nil", list)
	}
}

func rawStrings(rs []json.RawMessage) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func TestInvoke(t *testing.T) {
	tests := []struct {
		name                             string
		pipeline                         string
		body                             string
		contentType, accept, targetModel string
		wantBody, wantContentType        string
		wantReq                          seenRequest
	}{
		{
			name:     "csv in csv out",
			pipeline: "fraud", body: "1.0,2.0\n3.0,4.0\n",
			contentType: "text/csv", accept: "text/csv",
			wantBody: "fraud<-1.0,2.0\n3.0,4.0\n", wantContentType: "text/csv",
			wantReq: seenRequest{Method: "POST", Path: "/pipelines/fraud/invocations",
				ContentType: "text/csv", Accept: "text/csv", Body: "1.0,2.0\n3.0,4.0\n"},
		},
		{
			name:     "csv in json out with target model",
			pipeline: "fraud", body: "1,2\n",
			contentType: "text/csv", accept: "application/json", targetModel: "xgb-v2",
			wantBody: "xgb-v2<-1,2\n", wantContentType: "application/json",
			wantReq: seenRequest{Method: "POST", Path: "/pipelines/fraud/invocations",
				ContentType: "text/csv", Accept: "application/json", TargetModel: "xgb-v2", Body: "1,2\n"},
		},
		{
			// No Accept and no target model: neither header is sent, and an
			// empty content type means JSON.
			name:     "defaults",
			pipeline: "fraud", body: `{"instances":[[1,2]]}`,
			wantBody: `fraud<-{"instances":[[1,2]]}`, wantContentType: "application/json",
			wantReq: seenRequest{Method: "POST", Path: "/pipelines/fraud/invocations",
				ContentType: "application/json", Body: `{"instances":[[1,2]]}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake, srv := newFakeBaton(t, map[string]string{"fraud": `{"name":"fraud"}`})
			c := New(srv.URL, srv.Client())
			body, ct, err := c.Invoke(t.Context(), tc.pipeline, []byte(tc.body), tc.contentType, tc.accept, tc.targetModel)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if diff := cmp.Diff(tc.wantBody, string(body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if ct != tc.wantContentType {
				t.Errorf("content type = %q, want %q", ct, tc.wantContentType)
			}
			if diff := cmp.Diff([]seenRequest{tc.wantReq}, fake.requests()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvokeUnknownPipeline(t *testing.T) {
	_, srv := newFakeBaton(t, nil)
	_, _, err := New(srv.URL, srv.Client()).Invoke(t.Context(), "ghost", []byte("1\n"), "text/csv", "", "")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Invoke: err = %v, want ErrNotFound", err)
	}
}

func TestInfer(t *testing.T) {
	fake, srv := newFakeBaton(t, nil)
	c := New(srv.URL, srv.Client())
	req := `{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,2],"data":[1,2]}]}`
	got, err := c.Infer(t.Context(), "ocr", []byte(req))
	if err != nil {
		t.Fatalf("Infer: %v", err)
	}
	if diff := cmp.Diff(`{"model_name":"ocr","outputs":[{"name":"echo_INPUT0"}]}`, string(got)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	want := []seenRequest{{Method: "POST", Path: "/v2/models/ocr/infer", ContentType: "application/json", Accept: "application/json", Body: req}}
	if diff := cmp.Diff(want, fake.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	_, err = c.Infer(t.Context(), "ocr", []byte(`not json`))
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Infer with a bad body: err = %v, want ErrInvalid (server's 400)", err)
	}
}

// fixedAnswer serves every request with one canned status, content type and body.
func fixedAnswer(t *testing.T, status int, contentType, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAPIErrors(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        *APIError
		wantString  string
		wantIs      error
	}{
		{
			name:   "validation problems",
			status: 422, contentType: "application/json",
			body: `{"error":"invalid pipeline","problems":[` +
				`{"path":"stages[2].inputs.X","message":"tensor \"feat\" is produced by no earlier stage"},` +
				`{"path":"stages[0].model","message":"model \"det\" is in no repository"}]}`,
			want: &APIError{Status: 422, Message: "invalid pipeline", Problems: []Problem{
				{Path: "stages[2].inputs.X", Message: `tensor "feat" is produced by no earlier stage`},
				{Path: "stages[0].model", Message: `model "det" is in no repository`},
			}},
			wantString: `HTTP 422: invalid pipeline: stages[2].inputs.X: tensor "feat" is produced by no earlier stage; ` +
				`stages[0].model: model "det" is in no repository`,
			wantIs: ErrInvalid,
		},
		{
			name:   "problem without path",
			status: 400, contentType: "application/json",
			body:       `{"error":"invalid pipeline","problems":[{"message":"no stages"}]}`,
			want:       &APIError{Status: 400, Message: "invalid pipeline", Problems: []Problem{{Message: "no stages"}}},
			wantString: "HTTP 400: invalid pipeline: no stages",
			wantIs:     ErrInvalid,
		},
		{
			name:   "plain error",
			status: 409, contentType: "application/json",
			body:       `{"error":"pipeline \"p\" already exists"}`,
			want:       &APIError{Status: 409, Message: `pipeline "p" already exists`},
			wantString: `HTTP 409: pipeline "p" already exists`,
			wantIs:     ErrConflict,
		},
		{
			// echo's default error handler, e.g. for a route the server lacks.
			name:   "echo default body",
			status: 404, contentType: "application/json",
			body:       `{"message":"Not Found"}`,
			want:       &APIError{Status: 404, Message: "Not Found"},
			wantString: "HTTP 404: Not Found",
			wantIs:     ErrNotFound,
		},
		{
			name:   "proxy html page",
			status: 502, contentType: "text/html",
			body:       "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n",
			want:       &APIError{Status: 502, Message: "Bad Gateway: <html> <head><title>502 Bad Gateway</title></head> <body>nginx</body> </html>"},
			wantString: "HTTP 502: Bad Gateway: <html> <head><title>502 Bad Gateway</title></head> <body>nginx</body> </html>",
		},
		{
			name:   "empty body",
			status: 503,
			want:   &APIError{Status: 503, Message: "Service Unavailable"}, wantString: "HTTP 503: Service Unavailable",
		},
		{
			// 200 bytes of the body are kept, then an ellipsis.
			name:   "long text cut",
			status: 500, contentType: "text/plain",
			body:       long,
			want:       &APIError{Status: 500, Message: "Internal Server Error: " + long[:200] + "…"},
			wantString: "HTTP 500: Internal Server Error: " + long[:200] + "…",
		},
		{
			// JSON, but not an error shape the client knows: show it rather than lose it.
			name:   "unknown json shape",
			status: 500, contentType: "application/json",
			body:       `{"detail":"boom"}`,
			want:       &APIError{Status: 500, Message: `Internal Server Error: {"detail":"boom"}`},
			wantString: `HTTP 500: Internal Server Error: {"detail":"boom"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fixedAnswer(t, tc.status, tc.contentType, tc.body)
			_, err := New(srv.URL, srv.Client()).Get(t.Context(), "p")
			var got *APIError
			if !errors.As(err, &got) {
				t.Fatalf("Get: err = %v, want *APIError", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantString, got.Error()); diff != "" {
				t.Errorf("Error() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(`get pipeline "p": `+tc.wantString, err.Error()); diff != "" {
				t.Errorf("wrapped error (-want +got):\n%s", diff)
			}
			for _, sentinel := range []error{ErrNotFound, ErrConflict, ErrInvalid} {
				if errors.Is(err, sentinel) != (sentinel == tc.wantIs) {
					t.Errorf("errors.Is(err, %v) = %v", sentinel, !(sentinel == tc.wantIs))
				}
			}
		})
	}
}

func TestBadSuccessAnswers(t *testing.T) {
	tests := []struct {
		name    string
		call    func(*Client, context.Context) error
		body    string
		wantMsg string
	}{
		{
			name:    "get not json",
			call:    func(c *Client, ctx context.Context) error { _, err := c.Get(ctx, "p"); return err },
			body:    "<html>ok</html>",
			wantMsg: `get pipeline "p": decode answer: not a JSON document: "<html>ok</html>"`,
		},
		{
			name:    "list without pipelines",
			call:    func(c *Client, ctx context.Context) error { _, err := c.List(ctx); return err },
			body:    `{"items":[]}`,
			wantMsg: `list pipelines: decode answer: no "pipelines" field`,
		},
		{
			name:    "infer not json",
			call:    func(c *Client, ctx context.Context) error { _, err := c.Infer(ctx, "m", []byte(`{}`)); return err },
			body:    "\x00\x01binary",
			wantMsg: `infer "m": decode answer: not a JSON document: "\x00\x01binary"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fixedAnswer(t, http.StatusOK, "application/json", tc.body)
			err := tc.call(New(srv.URL, srv.Client()), t.Context())
			if err == nil {
				t.Fatal("got no error")
			}
			if diff := cmp.Diff(tc.wantMsg, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// holdingServer holds every request until the client goes away, so only
// the client's ctx can end a call; arrived receives once per request.
func holdingServer(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 16)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body is consumed.
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-stop: // the test ended first; don't leave srv.Close waiting
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs before srv.Close
	return srv, arrived
}

func TestContextEndsCall(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		srv, arrived := holdingServer(t)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			<-arrived
			cancel()
		})
		_, err := New(srv.URL, srv.Client()).Get(ctx, "slow")
		wg.Wait()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Get: err = %v, want context.Canceled", err)
		}
		if want := `get pipeline "slow": context canceled`; err.Error() != want {
			t.Errorf("Get: err = %q, want %q", err, want)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		srv, _ := holdingServer(t)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, _, err := New(srv.URL, srv.Client()).Invoke(ctx, "slow", []byte("1\n"), "text/csv", "", "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Invoke: err = %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("already cancelled", func(t *testing.T) {
		srv, arrived := holdingServer(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := New(srv.URL, srv.Client()).Delete(ctx, "p"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Delete: err = %v, want context.Canceled", err)
		}
		// No handler can still be starting: Delete has returned and never dialled.
		if len(arrived) != 0 {
			t.Error("a request with a cancelled ctx reached the server")
		}
	})
}

func TestBaseURL(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"pipelines":[]}`))
	}))
	t.Cleanup(srv.Close)

	// A path prefix (Baton behind a proxy) is kept; a trailing slash is not doubled.
	for _, base := range []string{srv.URL, srv.URL + "/", srv.URL + "/baton", srv.URL + "/baton/"} {
		if _, err := New(base, srv.Client()).List(t.Context()); err != nil {
			t.Fatalf("List via %q: %v", base, err)
		}
	}
	want := []string{"/admin/pipelines", "/admin/pipelines", "/baton/admin/pipelines", "/baton/admin/pipelines"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestNewDefaults(t *testing.T) {
	c := New("http://localhost:8080", nil)
	if c.hc == nil || c.hc.Timeout != DefaultTimeout {
		t.Errorf("default client timeout = %v, want %v", c.hc.Timeout, DefaultTimeout)
	}
}

func TestEmptyNames(t *testing.T) {
	srv := fixedAnswer(t, http.StatusOK, "application/json", `{}`)
	c := New(srv.URL, srv.Client())
	ctx := t.Context()
	calls := map[string]error{
		"Get":    func() error { _, err := c.Get(ctx, ""); return err }(),
		"Delete": c.Delete(ctx, ""),
		"Invoke": func() error { _, _, err := c.Invoke(ctx, "", nil, "", "", ""); return err }(),
		"Infer":  func() error { _, err := c.Infer(ctx, "", []byte(`{}`)); return err }(),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s(\"\"): err = %v, want ErrInvalid", name, err)
		}
	}
}
