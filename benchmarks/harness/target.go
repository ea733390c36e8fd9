package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/batonhq/baton/tritonclient"
)

// Errors that say why a target cannot be measured, before any load.
var (
	// ErrUnreachable: nothing answers at the endpoint's address.
	ErrUnreachable = errors.New("target unreachable")
	// ErrNotReady: the server answers but it or the model is not ready.
	ErrNotReady = errors.New("target not ready")
	// ErrRejected: the server refused the first request (wrong input data,
	// shape or datatype), so no load was sent.
	ErrRejected = errors.New("first request failed")
)

// Reply is what a target learned about one request besides its latency.
type Reply struct {
	// Send is the client's time to marshal and write the request; Recv is
	// its time from the first response byte (HTTP) or the received message
	// (gRPC) to a fully read answer. perf_analyzer's "Client Send" and
	// "Client Recv" columns.
	Send, Recv time.Duration
	// Timing is the answer's Server-Timing header (Baton's HTTP doors).
	Timing []TimingEntry
}

// Target sends one request built from payload number payload (taken modulo
// the number of payloads). The load generator calls it from many
// goroutines at once.
type Target interface {
	Send(ctx context.Context, payload int) (Reply, error)
}

// Protocol is how requests travel.
type Protocol string

// Protocols.
const (
	GRPC Protocol = "grpc"
	HTTP Protocol = "http"
)

// Door is which of a server's front doors receives the requests.
type Door string

// Doors.
const (
	// DoorV2 is Triton's v2 inference protocol (Triton and Baton).
	DoorV2 Door = "v2"
	// DoorInvocations is Baton's SageMaker-style /pipelines/{name}/invocations.
	DoorInvocations Door = "invocations"
)

// Endpoint names one model behind one door of one server.
type Endpoint struct {
	// URL is host:port; for HTTP an http:// prefix is accepted.
	URL      string
	Protocol Protocol
	Door     Door
	// Model is the model or pipeline to measure; Version "" is the server's choice.
	Model, Version string
	// TargetModel picks the model of a Baton group stage.
	TargetModel string
	// JSON sends v2 HTTP tensors as JSON instead of binary data, and
	// /invocations bodies as application/json instead of text/csv.
	JSON bool
	// ProbeTimeout bounds each probe call (default 10s).
	ProbeTimeout time.Duration
}

// String is a short description such as "grpc://127.0.0.1:8001 model tabular".
func (e Endpoint) String() string {
	door := ""
	if e.Door == DoorInvocations {
		door = " /invocations"
	}
	return fmt.Sprintf("%s://%s%s model %q", e.Protocol, hostPort(e.URL), door, e.Model)
}

func hostPort(url string) string {
	for _, p := range []string{"http://", "grpc://"} {
		url = strings.TrimPrefix(url, p)
	}
	return strings.TrimSuffix(url, "/")
}

// ModelInfo is what the probe learned about the server and the model.
type ModelInfo struct {
	// ServerName is "triton" for Triton and "baton" for Baton.
	ServerName, ServerVersion string
	Model                     string
	Versions                  []string
	Platform                  string
	// MaxBatchSize > 0 means the first dimension of every input is the batch.
	MaxBatchSize int
	Inputs       []tritonclient.TensorMetadata
	Outputs      []tritonclient.TensorMetadata
	// Composing are an ensemble's step models, in order.
	Composing []string
}

// IsBaton reports whether the server is Baton (the model is a pipeline).
func (m *ModelInfo) IsBaton() bool { return m.ServerName == "baton" }

// IsEnsemble reports whether the model is a Triton ensemble.
func (m *ModelInfo) IsEnsemble() bool { return m.Platform == "ensemble" }

// Conn is an opened, probed endpoint: a Target once Prepare has given it
// its payloads.
type Conn struct {
	ep     Endpoint
	info   *ModelInfo
	door   door
	stats  StatsReader
	closer func() error
}

// door is one protocol's way of encoding payloads once and sending them.
type door interface {
	prepare(info *ModelInfo, payloads []Payload) error
	send(ctx context.Context, i int) (Reply, error)
}

// Open connects to ep and probes it: the server must be ready, the model
// ready, and its metadata and configuration readable. Nothing is sent to
// the model. Errors wrap ErrUnreachable, ErrNotReady or ErrBadFlag.
func Open(ctx context.Context, ep Endpoint) (*Conn, error) {
	if ep.ProbeTimeout <= 0 {
		ep.ProbeTimeout = 10 * time.Second
	}
	if ep.Model == "" {
		return nil, fmt.Errorf("%w: no model named", ErrBadFlag)
	}
	if ep.Door == "" {
		ep.Door = DoorV2
	}
	switch {
	case ep.Door == DoorInvocations && ep.Protocol != HTTP:
		return nil, fmt.Errorf("%w: the /invocations door is HTTP only", ErrBadFlag)
	case ep.Door != DoorV2 && ep.Door != DoorInvocations:
		return nil, fmt.Errorf("%w: door %q: want v2 or invocations", ErrBadFlag, ep.Door)
	}
	switch ep.Protocol {
	case GRPC:
		return openGRPC(ctx, ep)
	case HTTP:
		return openHTTP(ctx, ep)
	}
	return nil, fmt.Errorf("%w: protocol %q: want grpc or http", ErrBadFlag, ep.Protocol)
}

// Info is what the probe learned.
func (c *Conn) Info() *ModelInfo { return c.info }

// Endpoint is the endpoint as opened.
func (c *Conn) Endpoint() Endpoint { return c.ep }

// Stats reads the server's own statistics (Baton's per pipeline, Triton's
// per model), for StatsPlan.Target.
func (c *Conn) Stats() StatsReader { return c.stats }

// Prepare encodes the payloads once; Send then only sends.
func (c *Conn) Prepare(payloads []Payload) error {
	if len(payloads) == 0 {
		return fmt.Errorf("%w: no payloads", ErrBadFlag)
	}
	return c.door.prepare(c.info, payloads)
}

// Send sends payload i (modulo the number of payloads).
func (c *Conn) Send(ctx context.Context, i int) (Reply, error) { return c.door.send(ctx, i) }

// Check sends payload 0 once and fails with ErrRejected if it does not
// succeed: the last check before load, so a wrong payload is reported
// once instead of as a wall of errors.
func (c *Conn) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(c.ep.ProbeTimeout, 30*time.Second))
	defer cancel()
	if _, err := c.door.send(ctx, 0); err != nil {
		return fmt.Errorf("%w on %s: %w", ErrRejected, c.ep, err)
	}
	return nil
}

// Close releases the connections.
func (c *Conn) Close() error { return c.closer() }

// checkInfo validates what every door needs from the metadata.
func checkInfo(ep Endpoint, info *ModelInfo) error {
	if len(info.Inputs) == 0 {
		return fmt.Errorf("%w: model %q on %s declares no inputs", ErrNotReady, ep.Model, hostPort(ep.URL))
	}
	if ep.Door == DoorInvocations && !info.IsBaton() {
		return fmt.Errorf("%w: /invocations is Baton's door, but %s is %q", ErrBadFlag, hostPort(ep.URL), info.ServerName)
	}
	if ep.TargetModel != "" && !info.IsBaton() {
		return fmt.Errorf("%w: a target model only means something to Baton, but %s is %q", ErrBadFlag, hostPort(ep.URL), info.ServerName)
	}
	if ep.Version != "" && len(info.Versions) > 0 && !slices.Contains(info.Versions, ep.Version) {
		return fmt.Errorf("%w: model %q has versions %v, not %q", ErrNotReady, ep.Model, info.Versions, ep.Version)
	}
	return nil
}

// newHTTPClient makes a client whose idle pool fits any concurrency.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}
