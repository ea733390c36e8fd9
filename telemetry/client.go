package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Sentinels that errors returned by Fetch wrap; check them with errors.Is.
var (
	// ErrUnreachable means no HTTP answer came back: connection refused,
	// unknown host, reset. Polling again later may succeed.
	ErrUnreachable = errors.New("agent unreachable")
	// ErrNotReady means the agent answered 503: it has not sampled yet.
	ErrNotReady = errors.New("agent has no sample yet")
	// ErrBadResponse means the agent answered something that is not a
	// snapshot: another status, a body that does not decode, no timestamp.
	ErrBadResponse = errors.New("bad agent response")
)

// maxSnapshotBody bounds, in bytes, a GET /snapshot body Fetch will read.
const maxSnapshotBody = 8 << 20

// StatusError is a non-200 answer from an agent.
type StatusError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the agent's "error" text, or the start of a foreign body.
	Message string
}

// Error formats the status and message, e.g. "HTTP 503: no sample yet".
func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// Unwrap maps 503 to ErrNotReady and every other status to ErrBadResponse.
func (e *StatusError) Unwrap() error {
	if e.Status == http.StatusServiceUnavailable {
		return ErrNotReady
	}
	return ErrBadResponse
}

// Fetch gets the latest Snapshot from the agent at addr ("host:port" or a
// base URL such as "http://host:port"). A cancelled or expired ctx is
// returned as ctx.Err(), wrapped; a nil hc means http.DefaultClient.
func Fetch(ctx context.Context, hc *http.Client, addr string) (Snapshot, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	base := strings.TrimSuffix(addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	fail := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("fetch telemetry from %s: %w", addr, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/snapshot", nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadResponse, err))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fail(ctxErr)
		}
		return fail(fmt.Errorf("%w: %v", ErrUnreachable, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSnapshotBody+1))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fail(ctxErr)
		}
		return fail(fmt.Errorf("%w: reading body: %v", ErrUnreachable, err))
	}
	if resp.StatusCode != http.StatusOK {
		return fail(&StatusError{Status: resp.StatusCode, Message: errorMessage(resp.StatusCode, body)})
	}
	if len(body) > maxSnapshotBody {
		return fail(fmt.Errorf("%w: body larger than %d bytes", ErrBadResponse, maxSnapshotBody))
	}
	var s Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadResponse, err))
	}
	if s.Taken.IsZero() {
		return fail(fmt.Errorf("%w: snapshot has no taken time", ErrBadResponse))
	}
	if s.GPUs == nil {
		s.GPUs = []GPU{}
	}
	return s, nil
}

// errorMessage is the agent's {"error"} text, or the start of a body that
// is not the agent's (a proxy's page), so the caller learns who answered.
func errorMessage(status int, body []byte) string {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return eb.Error
	}
	const snippet = 200
	text := strings.TrimSpace(string(body))
	if len(text) > snippet {
		text = strings.ToValidUTF8(text[:snippet], "") + "…"
	}
	if text == "" {
		return strings.ToLower(http.StatusText(status))
	}
	return text
}
