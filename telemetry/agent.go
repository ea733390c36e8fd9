package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultInterval is how often an Agent samples when AgentOptions.Interval is zero.
const DefaultInterval = 2 * time.Second

// staleIntervals is how many intervals may pass without a sample before
// /healthz fails: a hung NVML call stops the loop, and that must show.
const staleIntervals = 3

// maxSimulateBody bounds, in bytes, a PUT /simulate/gpus/{index} body.
const maxSimulateBody = 64 << 10

// AgentOptions configures an Agent.
type AgentOptions struct {
	// Sampler takes the samples (required).
	Sampler *Sampler
	// Interval is the time between samples; zero means DefaultInterval.
	Interval time.Duration
	// Registerer receives the agent's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Gatherer serves GET /metrics; nil leaves the route out.
	Gatherer prometheus.Gatherer
	// Simulation, when set, enables the /simulate routes that drive it.
	Simulation *SimulatedGPUs
	// Logger receives changes in the set of unreadable fields; nil discards.
	Logger *slog.Logger
	// Now is the clock /healthz judges staleness by; nil means time.Now.
	Now func() time.Time
}

// Agent samples a node on an interval, keeps the latest Snapshot and serves
// it over HTTP as JSON and Prometheus metrics.
type Agent struct {
	opts   AgentOptions
	logger *slog.Logger
	echo   *echo.Echo

	mu     sync.Mutex
	latest Snapshot // guarded by mu; valid when have
	have   bool     // guarded by mu
}

// NewAgent builds an Agent and registers its metrics; call Run to sample.
func NewAgent(opts AgentOptions) (*Agent, error) {
	if opts.Sampler == nil {
		return nil, errors.New("telemetry agent: no sampler")
	}
	if opts.Interval < 0 {
		return nil, fmt.Errorf("telemetry agent: negative interval %v", opts.Interval)
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Agent{opts: opts, logger: opts.Logger}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(newCollector(a.Latest)); err != nil {
			return nil, fmt.Errorf("telemetry agent: register metrics: %w", err)
		}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.handleError
	e.GET("/snapshot", a.getSnapshot)
	e.GET("/healthz", a.getHealth)
	if opts.Gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})))
	}
	if opts.Simulation != nil {
		e.GET("/simulate/gpus", a.getSimulated)
		e.PUT("/simulate/gpus/:index", a.putSimulated)
	}
	a.echo = e
	return a, nil
}

// Handler serves GET /snapshot, /healthz, /metrics and, in simulation,
// GET and PUT /simulate/gpus.
func (a *Agent) Handler() http.Handler { return a.echo }

// Run samples at once and then every Interval until ctx is done.
func (a *Agent) Run(ctx context.Context) {
	a.Refresh(ctx)
	t := time.NewTicker(a.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Refresh(ctx)
		}
	}
}

// Refresh takes a sample now, keeps it as the latest and returns a copy.
// A sample whose ctx ended while it was taken may be incomplete (devices
// left unread), so it is returned but not kept.
func (a *Agent) Refresh(ctx context.Context) Snapshot {
	s := a.opts.Sampler.Sample(ctx)
	if ctx.Err() != nil {
		return s
	}
	a.mu.Lock()
	var prevErrs []string
	changed := false
	// Concurrent refreshes may finish out of order; never go back in Seq.
	if !a.have || s.Seq > a.latest.Seq {
		prevErrs, changed = a.latest.Errors, !a.have || !slices.Equal(a.latest.Errors, s.Errors)
		a.latest, a.have = s, true
	}
	a.mu.Unlock()
	switch {
	case !changed:
	case len(s.Errors) > 0:
		a.logger.Warn("telemetry fields unreadable", "node", s.Node, "errors", s.Errors)
	case len(prevErrs) > 0:
		a.logger.Info("telemetry fields readable again", "node", s.Node)
	}
	return s.Clone()
}

// Latest returns a copy of the latest Snapshot; false before the first sample.
func (a *Agent) Latest() (Snapshot, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.have {
		return Snapshot{}, false
	}
	return a.latest.Clone(), true
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
}

// healthBody answers GET /healthz.
type healthBody struct {
	// Status is "ok", "no sample yet" or "stale".
	Status string `json:"status"`
	// Seq and Taken identify the latest sample, when there is one.
	Seq   uint64     `json:"seq,omitempty"`
	Taken *time.Time `json:"taken,omitempty"`
}

// errNoSample answers GET /snapshot before the first sample.
var errNoSample = echo.NewHTTPError(http.StatusServiceUnavailable, "no sample yet")

func (a *Agent) getSnapshot(c echo.Context) error {
	s, ok := a.Latest()
	if !ok {
		return errNoSample
	}
	return c.JSON(http.StatusOK, s)
}

func (a *Agent) getHealth(c echo.Context) error {
	s, ok := a.Latest()
	if !ok {
		return c.JSON(http.StatusServiceUnavailable, healthBody{Status: "no sample yet"})
	}
	body := healthBody{Status: "ok", Seq: s.Seq, Taken: &s.Taken}
	if age := a.opts.Now().Sub(s.Taken); age > staleIntervals*a.opts.Interval {
		body.Status = "stale"
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	return c.JSON(http.StatusOK, body)
}

func (a *Agent) getSimulated(c echo.Context) error {
	return c.JSON(http.StatusOK, a.opts.Simulation.GPUs())
}

// putSimulated sets one simulated GPU's load from a body such as
// {"memoryUsedBytes": 68719476736, "utilization": 0.9} (both fields; an
// omitted one is zero) and samples at once, so the next GET /snapshot
// shows it.
func (a *Agent) putSimulated(c echo.Context) error {
	index, err := strconv.Atoi(c.Param("index"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("gpu index %q is not a number", c.Param("index")))
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, maxSimulateBody))
	dec.DisallowUnknownFields() // a misspelt field must not silently set zero
	var load SimulatedLoad
	if err := dec.Decode(&load); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("simulated load: %v", err))
	}
	st, err := a.opts.Simulation.Set(index, load)
	switch {
	case errors.Is(err, ErrNoSuchGPU):
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	case errors.Is(err, ErrInvalidLoad):
		return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
	case err != nil:
		return err
	}
	a.logger.Info("simulated gpu load set", "index", st.Index, "uuid", st.UUID, "memoryUsedBytes", st.MemoryUsedBytes, "utilization", st.Utilization)
	a.Refresh(c.Request().Context())
	return c.JSON(http.StatusOK, st)
}

func (a *Agent) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, err.Error()
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status, msg = he.Code, strings.ToLower(http.StatusText(he.Code))
		if m, ok := he.Message.(string); ok && m != http.StatusText(he.Code) {
			msg = m
		}
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		a.logger.Error("request failed", "path", c.Path(), "status", status, "err", err)
	}
	if msg != "" {
		msg = strings.ToLower(msg[:1]) + msg[1:]
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: msg})
}
