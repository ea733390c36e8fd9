package adminclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Sentinels that errors returned by a Client wrap; check them with errors.Is.
var (
	// ErrNotFound means the server answered 404: no such pipeline or model.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the server answered 409, e.g. creating a pipeline that exists.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the request was refused as invalid: by the server
	// (400, 422) or before sending (a spec that does not parse or has no name).
	ErrInvalid = errors.New("invalid request")
)

// APIError is a non-2xx answer from the server.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the server's "error" text, or a summary of a body that was not Baton's JSON.
	Message string
	// Problems lists validation failures, one per offending spec field (400 and 422 only).
	Problems []Problem
}

// Problem is one validation failure reported by the server.
type Problem struct {
	// Path locates the offending field, e.g. "stages[2].inputs.X".
	Path string `json:"path"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// Error formats the status, the message and every problem, e.g.
// `HTTP 422: invalid pipeline: stages[2].inputs.X: tensor "feat" is produced by no earlier stage`.
func (e *APIError) Error() string {
	var extra []string
	for _, p := range e.Problems {
		text := p.Message
		if p.Path != "" {
			text = p.Path + ": " + p.Message
		}
		if !strings.Contains(e.Message, text) { // Baton's messages already list theirs
			extra = append(extra, text)
		}
	}
	if len(extra) == 0 {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d: %s: %s", e.Status, e.Message, strings.Join(extra, "; "))
}

// Unwrap returns the sentinel for e.Status, or nil when none fits.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return ErrInvalid
	}
	return nil
}

// snippetLen bounds, in bytes, how much of a non-JSON error body goes into
// APIError.Message: enough to recognise a proxy's page, not to dump it.
const snippetLen = 200

// decodeAPIError builds the error for a non-2xx answer. Baton's bodies are
// {"error", "problems"}; echo's default handler (unknown routes, 405s)
// writes {"message"}; anything else (a proxy's HTML page, plain text) is
// summarised so the user still learns who answered and roughly what.
func decodeAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var doc struct {
		Error    string          `json:"error"`
		Message  json.RawMessage `json:"message"`
		Problems []Problem       `json:"problems"`
	}
	err := json.Unmarshal(body, &doc)
	if err == nil && (doc.Error != "" || len(doc.Message) > 0 || len(doc.Problems) > 0) {
		e.Message, e.Problems = doc.Error, doc.Problems
		if e.Message == "" && len(doc.Message) > 0 {
			var s string
			if json.Unmarshal(doc.Message, &s) == nil {
				e.Message = s
			} else {
				e.Message = string(doc.Message)
			}
		}
	} else {
		e.Message = snippet(body)
		if text := http.StatusText(status); text != "" && e.Message != "" {
			e.Message = text + ": " + e.Message
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if e.Message == "" {
		e.Message = "no error message"
	}
	return e
}

// snippet collapses whitespace in body and cuts it to snippetLen bytes on a
// rune boundary.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) <= snippetLen {
		return s
	}
	cut := snippetLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
