package telemetry_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/telemetry"
)

func TestFetchAcceptsHostPortAndURL(t *testing.T) {
	s := newSimAgent(t)
	want := s.agent.Refresh(t.Context())
	hostPort := strings.TrimPrefix(s.srv.URL, "http://")
	for _, addr := range []string{hostPort, s.srv.URL, s.srv.URL + "/"} {
		got, err := telemetry.Fetch(t.Context(), s.srv.Client(), addr)
		if err != nil {
			t.Errorf("Fetch(%q): %v", addr, err)
			continue
		}
		if got.Seq != want.Seq || len(got.GPUs) != 2 || !got.Simulated {
			t.Errorf("Fetch(%q) = seq %d, %d GPUs, simulated %v", addr, got.Seq, len(got.GPUs), got.Simulated)
		}
	}
}

func TestFetchErrors(t *testing.T) {
	// A port nothing listens on: open one, note it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	answer := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	fresh := newSimAgent(t) // no sample yet

	tests := []struct {
		name   string
		ctx    context.Context
		addr   string
		want   error
		status int // of a *StatusError, when one is expected
		inText string
	}{
		{"nothing listening", t.Context(), closedAddr, telemetry.ErrUnreachable, 0, "agent unreachable"},
		{"no sample yet", t.Context(), fresh.srv.URL, telemetry.ErrNotReady, 503, "no sample yet"},
		{"proxy error page", t.Context(), answer(502, "<html>bad gateway</html>"), telemetry.ErrBadResponse, 502, "<html>bad gateway</html>"},
		{"empty 500", t.Context(), answer(500, ""), telemetry.ErrBadResponse, 500, "internal server error"},
		{"not JSON", t.Context(), answer(200, "hello"), telemetry.ErrBadResponse, 0, "bad agent response"},
		{"JSON without a time", t.Context(), answer(200, `{"node":"x"}`), telemetry.ErrBadResponse, 0, "no taken time"},
		{"cancelled", cancelled, fresh.srv.URL, context.Canceled, 0, "context canceled"},
		{"deadline passed", expired, fresh.srv.URL, context.DeadlineExceeded, 0, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := telemetry.Fetch(tt.ctx, http.DefaultClient, tt.addr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Fetch = %v, want errors.Is %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.inText) || !strings.Contains(err.Error(), tt.addr) {
				t.Errorf("error %q lacks %q or the address", err, tt.inText)
			}
			if errors.Is(tt.want, context.Canceled) || errors.Is(tt.want, context.DeadlineExceeded) {
				if errors.Is(err, telemetry.ErrUnreachable) {
					t.Errorf("a caller's own deadline reported as an unreachable agent: %v", err)
				}
			}
			se, isStatus := errors.AsType[*telemetry.StatusError](err)
			if (tt.status != 0) != isStatus || (isStatus && se.Status != tt.status) {
				t.Errorf("StatusError %+v (present %v), want status %d", se, isStatus, tt.status)
			}
		})
	}
	http.DefaultClient.CloseIdleConnections()
}
