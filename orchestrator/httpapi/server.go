package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/batonhq/baton/orchestrator"
	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/orchestrator/v2http"
	"github.com/batonhq/baton/tritonclient"
)

// StatusStageFailed is HTTP 424 Failed Dependency: a stage failed on Triton.
const StatusStageFailed = http.StatusFailedDependency

// statusClientClosed is nginx's 499: the client went away before the answer.
const statusClientClosed = 499

// Options configures the HTTP front door.
type Options struct {
	Logger *slog.Logger
	// Registerer receives request metrics; Gatherer serves /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// BodyLimit is the largest accepted request body in bytes (default 64 MiB).
	BodyLimit int64
	// DefaultTimeout bounds a request that names no timeout (default 60s).
	DefaultTimeout time.Duration
	// Fleet backs GET /admin/fleet (optional).
	Fleet *fleet.Fleet
	// Placements backs GET /admin/placements (optional).
	Placements Placements
	// Groups backs GET /admin/groups[/{name}] (optional).
	Groups Groups
	// Version is reported by GET /v2.
	Version string
}

// Server is the HTTP front door.
type Server struct {
	svc      *orchestrator.Service
	opts     Options
	logger   *slog.Logger
	echo     *echo.Echo
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	overhead *prometheus.HistogramVec
	inFlight prometheus.Gauge
	reqSeq   atomicCounter
}

// New builds the HTTP handler tree.
func New(svc *orchestrator.Service, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 64 << 20
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 60 * time.Second
	}
	s := &Server{svc: svc, opts: opts, logger: opts.Logger}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "baton_requests_total", Help: "Pipeline requests by pipeline, front door and HTTP-equivalent status code.",
	}, []string{"pipeline", "door", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "baton_request_duration_seconds", Help: "End-to-end pipeline latency inside Baton, by pipeline.",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 18),
	}, []string{"pipeline"})
	s.overhead = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "baton_overhead_seconds", Help: "Pipeline latency not spent in stage calls (Baton's own cost), by pipeline.",
		Buckets: prometheus.ExponentialBuckets(0.000005, 2, 16),
	}, []string{"pipeline"})
	s.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "baton_requests_in_flight", Help: "Pipeline requests being served."})
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{s.requests, s.latency, s.overhead, s.inFlight} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: strconv.FormatInt(opts.BodyLimit, 10) + "B"}))
	e.Use(s.requestID)

	e.GET("/v2", s.serverMetadata)
	e.GET("/v2/health/live", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.GET("/v2/health/ready", s.serverReady)
	e.GET("/v2/models/:name", s.modelMetadata)
	e.GET("/v2/models/:name/versions/:version", s.modelMetadata)
	e.GET("/v2/models/:name/ready", s.modelReady)
	e.GET("/v2/models/:name/versions/:version/ready", s.modelReady)
	e.GET("/v2/models/:name/config", s.modelConfig)
	e.GET("/v2/models/:name/versions/:version/config", s.modelConfig)
	e.GET("/v2/models/:name/stats", s.modelStats)
	e.GET("/v2/models/:name/versions/:version/stats", s.modelStats)
	e.POST("/v2/models/:name/infer", s.infer, s.countRequests("v2http"))
	e.POST("/v2/models/:name/versions/:version/infer", s.infer, s.countRequests("v2http"))
	e.POST("/v2/repository/index", s.repositoryIndex)
	e.POST("/pipelines/:name/invocations", s.invocations, s.countRequests("invocations"))
	e.GET("/ping", s.serverReady) // SageMaker's health check

	e.POST("/admin/pipelines", s.createPipeline)
	e.GET("/admin/pipelines", s.listPipelines)
	e.GET("/admin/pipelines/:name", s.getPipeline)
	e.PUT("/admin/pipelines/:name", s.putPipeline)
	e.DELETE("/admin/pipelines/:name", s.deletePipeline)
	e.GET("/admin/fleet", s.getFleet)
	e.GET("/admin/placements", s.getPlacements)
	e.GET("/admin/groups", s.listGroups)
	e.GET("/admin/groups/:name", s.getGroup)

	if opts.Gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})))
	}
	s.echo = e
	return s, nil
}

// Handler is the root http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// errorBody is every error response.
type errorBody struct {
	Error    string             `json:"error"`
	Problems []pipeline.Problem `json:"problems,omitempty"`
}

// httpError is an error with its status decided.
type httpError struct {
	status int
	body   errorBody
}

func (e *httpError) Error() string { return e.body.Error }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, body: errorBody{Error: fmt.Sprintf(format, args...)}}
}

// statusFor maps Baton's errors to HTTP status codes; see the package's
// README for the table.
func statusFor(err error) int {
	var se *executor.StageError
	switch {
	case errors.Is(err, v2http.ErrBadRequest), errors.Is(err, executor.ErrBadInput), errors.Is(err, executor.ErrMissingTarget):
		return http.StatusBadRequest
	case errors.Is(err, orchestrator.ErrPipelineNotFound), errors.Is(err, executor.ErrUnknownTarget):
		return http.StatusNotFound
	case errors.Is(err, executor.ErrLoadFailed):
		return StatusStageFailed
	case errors.Is(err, executor.ErrNoInstance):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return statusClientClosed
	case errors.As(err, &se):
		// The first stage rejecting the caller's data is the caller's
		// mistake; anything else is a failed dependency.
		if se.Index == 0 && errors.Is(se.Err, tritonclient.ErrInvalidArgument) {
			return http.StatusBadRequest
		}
		if errors.Is(se.Err, tritonclient.ErrUnavailable) {
			return http.StatusServiceUnavailable
		}
		return StatusStageFailed
	}
	return http.StatusInternalServerError
}

func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *httpError
	var ee *echo.HTTPError
	var ve *pipeline.ValidationError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &ve):
		he = &httpError{status: http.StatusUnprocessableEntity, body: errorBody{Error: ve.Error(), Problems: ve.Problems}}
	case errors.As(err, &ee):
		msg := http.StatusText(ee.Code)
		if m, ok := ee.Message.(string); ok {
			msg = m
		}
		if ee.Code == http.StatusRequestEntityTooLarge {
			msg = fmt.Sprintf("request body larger than the limit of %d bytes", s.opts.BodyLimit)
		}
		he = errorf(ee.Code, "%s", strings.ToLower(msg[:1])+msg[1:])
	default:
		he = errorf(statusFor(err), "%s", err.Error())
	}
	if he.status >= 500 && !strings.HasPrefix(c.Path(), "/v2/health/") && !strings.HasSuffix(c.Path(), "/ready") {
		// A health probe's 503 is its answer, not a failure.
		s.logger.Error("request failed", "id", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Path(), "status", he.status, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(he.status)
		return
	}
	_ = c.JSON(he.status, he.body)
}

// requestID takes X-Request-Id from the caller or makes one.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if id == "" {
			id = "b" + strconv.FormatUint(s.reqSeq.next(), 36)
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// requestTimeout is the request's deadline budget: the X-Baton-Timeout
// header (a Go duration such as "250ms"), else the v2 "timeout" parameter
// (microseconds), else the default.
func (s *Server) requestTimeout(c echo.Context, params map[string]any) (time.Duration, error) {
	if h := c.Request().Header.Get("X-Baton-Timeout"); h != "" {
		d, err := time.ParseDuration(h)
		if err != nil || d <= 0 {
			return 0, errorf(http.StatusBadRequest, "header X-Baton-Timeout: %q is not a positive duration such as \"500ms\"", h)
		}
		return d, nil
	}
	if v, ok := params["timeout"]; ok {
		var us int64
		switch v := v.(type) {
		case int64:
			us = v
		case float64:
			us = int64(v)
		default:
			return 0, errorf(http.StatusBadRequest, "parameters.timeout: want microseconds as an integer, got %T", v)
		}
		if us <= 0 {
			return 0, errorf(http.StatusBadRequest, "parameters.timeout: %d is not positive", us)
		}
		return time.Duration(us) * time.Microsecond, nil
	}
	return s.opts.DefaultTimeout, nil
}

// targetModel reads the group target from headers or the v2 parameter.
func targetModel(c echo.Context, params map[string]any) (string, error) {
	for _, h := range []string{"X-Baton-Target-Model", "X-Amzn-SageMaker-Target-Model"} {
		if v := c.Request().Header.Get(h); v != "" {
			return v, nil
		}
	}
	if v, ok := params["target_model"]; ok {
		s, isStr := v.(string)
		if !isStr || s == "" {
			return "", errorf(http.StatusBadRequest, "parameters.target_model: want a model name string")
		}
		return s, nil
	}
	return "", nil
}

// run executes a pipeline with metrics, logging and Server-Timing.
func (s *Server) run(c echo.Context, door, name string, req *executor.Request, timeout time.Duration) (*executor.Result, error) {
	s.inFlight.Inc()
	defer s.inFlight.Dec()
	ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
	defer cancel()
	req.ID = firstNonEmpty(req.ID, c.Response().Header().Get(echo.HeaderXRequestID))
	res, err := s.svc.Infer(ctx, name, req)
	if res != nil {
		c.Response().Header().Set("Server-Timing", serverTiming(res))
		if err == nil {
			s.latency.WithLabelValues(name).Observe(res.Total.Seconds())
			s.overhead.WithLabelValues(name).Observe(res.Overhead().Seconds())
		}
	}
	if err != nil {
		s.logger.Warn("pipeline request failed", "id", req.ID, "pipeline", name, "door", door, "status", statusFor(err), "err", err)
	}
	return res, err
}

// countRequests counts every request of a door by pipeline and final
// status, including those rejected before they reach a pipeline.
func (s *Server) countRequests(door string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			code := c.Response().Status
			if err != nil {
				code = statusOf(err)
			}
			name := c.Param("name")
			if _, ok := s.svc.Plan(name); !ok {
				name = "" // unknown names must not mint label values
			}
			s.requests.WithLabelValues(name, door, strconv.Itoa(code)).Inc()
			return err
		}
	}
}

// statusOf is the status handleError will send for err.
func statusOf(err error) int {
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &ee):
		return ee.Code
	}
	return statusFor(err)
}

// serverTiming renders per-stage durations, then Baton's own overhead:
// `preprocess;dur=1.234;desc="tabular_preprocess@triton-0", baton;dur=0.041`.
func serverTiming(res *executor.Result) string {
	var b strings.Builder
	for i, st := range res.Stages {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s;dur=%.3f;desc=%q", timingToken(st.Stage), float64(st.Duration.Microseconds())/1000, st.Model+"@"+st.Instance)
	}
	if b.Len() > 0 {
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "baton;dur=%.3f;desc=\"overhead\", total;dur=%.3f", float64(res.Overhead().Microseconds())/1000, float64(res.Total.Microseconds())/1000)
	return b.String()
}

// timingToken keeps a metric name to HTTP token characters.
func timingToken(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
