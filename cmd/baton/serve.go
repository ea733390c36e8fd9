package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/batonhq/baton/orchestrator"
	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/groups"
	"github.com/batonhq/baton/orchestrator/grpcapi"
	"github.com/batonhq/baton/orchestrator/httpapi"
	"github.com/batonhq/baton/orchestrator/loader"
	"github.com/batonhq/baton/orchestrator/placer"
	"github.com/batonhq/baton/orchestrator/store"
	"github.com/batonhq/baton/placement"
	"github.com/batonhq/baton/telemetry"
	"github.com/batonhq/baton/tritonclient/localfleet"
)

type serveFlags struct {
	httpAddr, grpcAddr string
	fleetFile          string
	localFleet         int
	localModels        []string
	localBasePort      int
	repository         string
	pipelinesDir       string
	groupsDir          string
	dataDir            string
	defaultTimeout     time.Duration
	bodyLimit          int64
	pollInterval       time.Duration
	logLevel           string
	placement          bool
	placeInterval      time.Duration
	simulateGPUs       bool
	minDwell           time.Duration
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve pipelines over Triton v2 HTTP/gRPC, /invocations and the admin API",
		Long: `Serves the pipelines in --pipelines and those created through the admin API
(persisted in --data-dir). Stages run on the Triton instances of --fleet, or,
with --local-fleet N, on N tritonserver processes Baton starts on 127.0.0.1
(the embedded single-machine default).`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.httpAddr, "http", "127.0.0.1:8080", "HTTP listen address (v2 HTTP, /invocations, admin, /metrics)")
	fl.StringVar(&f.grpcAddr, "grpc", "127.0.0.1:8081", "gRPC listen address (Triton v2 gRPC)")
	fl.StringVar(&f.fleetFile, "fleet", "", "fleet file (YAML) listing Triton instances")
	fl.IntVar(&f.localFleet, "local-fleet", 0, "start N local tritonserver processes instead of --fleet")
	fl.StringSliceVar(&f.localModels, "local-models", []string{"tabular_preprocess", "tabular_classifier", "tabular_postprocess", "tabular_ensemble", "identity_fp32"}, "models the local fleet loads at start (group members load on demand)")
	fl.IntVar(&f.localBasePort, "local-base-port", 8000, "local instance i listens on base+100*i (HTTP), +1 (gRPC), +2 (metrics); 0 picks free ports")
	fl.StringVar(&f.repository, "repository", "model_repository", "model repository for --local-fleet")
	fl.StringVar(&f.pipelinesDir, "pipelines", filepath.Join("deploy", "local", "pipelines"), "directory of pipeline specs (*.yaml) served read-only")
	fl.StringVar(&f.groupsDir, "groups", filepath.Join("deploy", "local", "groups"), "directory of multi-model group specs (*.yaml)")
	fl.StringVar(&f.dataDir, "data-dir", filepath.Join(".baton", "data"), "where API-created pipelines are persisted (bbolt)")
	fl.DurationVar(&f.defaultTimeout, "default-timeout", 60*time.Second, "deadline of a request that names none")
	fl.Int64Var(&f.bodyLimit, "body-limit", 64<<20, "largest request body in bytes (413 above)")
	fl.DurationVar(&f.pollInterval, "poll-interval", 2*time.Second, "how often instance health and model lists are polled")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&f.placement, "placement", true, "place stages on instances from telemetry and move them when it changes")
	fl.DurationVar(&f.placeInterval, "placement-interval", 5*time.Second, "time between placement rounds")
	fl.DurationVar(&f.minDwell, "min-dwell", 2*time.Minute, "a stage stays at least this long after a move (hysteresis)")
	fl.BoolVar(&f.simulateGPUs, "simulate-gpus", false, "SIMULATION: load models placed on instances declared as gpu with KIND_CPU (for machines without a GPU whose agents run with --simulate-gpus)")
	return cmd
}

func runServe(ctx context.Context, f serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var fleetFile *fleet.File
	switch {
	case f.localFleet > 0 && f.fleetFile != "":
		return errors.New("--fleet and --local-fleet are exclusive")
	case f.localFleet > 0:
		lf, err := localfleet.Start(ctx, localfleet.Options{
			ModelRepository: f.repository, Instances: f.localFleet, LoadModels: f.localModels, BasePort: f.localBasePort,
			LogDir: filepath.Join(filepath.Dir(f.dataDir), "logs"), Logger: logger,
		})
		if err != nil {
			return err
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := lf.Stop(stopCtx); err != nil {
				logger.Error("stopping local fleet", "err", err)
			}
		}()
		// The local node's telemetry, as `baton agent` would report it
		// (real NVML when there is a driver, else zero GPUs; host via
		// gopsutil), served on loopback for the fleet to poll.
		agentAddr, stopAgent, err := startLocalAgent(ctx, logger)
		if err != nil {
			return err
		}
		defer stopAgent()
		fleetFile = &fleet.File{}
		for _, in := range lf.Instances {
			fleetFile.Instances = append(fleetFile.Instances, fleet.InstanceSpec{Name: in.Name, GRPC: in.GRPCAddr, HTTP: in.HTTPAddr, Metrics: in.MetricsAddr, Kind: "cpu", Node: "local", Agent: agentAddr})
		}
	case f.fleetFile != "":
		var err error
		if fleetFile, err = fleet.LoadFile(f.fleetFile); err != nil {
			return err
		}
	default:
		return errors.New("name the Triton instances: --fleet FILE or --local-fleet N")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	fl, err := fleet.New(fleetFile, fleet.Options{PollInterval: f.pollInterval, Logger: logger})
	if err != nil {
		return err
	}
	defer fl.Close()
	fl.Refresh(ctx)

	repo := f.repository
	ld := loader.New(fl, loader.Options{Repository: repo, Logger: logger})
	var groupSpecs []*groups.Spec
	if f.groupsDir != "" {
		if groupSpecs, err = groups.LoadDir(f.groupsDir); err != nil {
			return err
		}
	}
	gm, err := groups.New(fl, ld, groupSpecs, groups.Options{Repository: repo, SimulateGPUs: f.simulateGPUs, Registerer: reg, Logger: logger})
	if err != nil {
		return err
	}
	exec, err := executor.New(gm, executor.Options{Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dataDir, 0o755); err != nil {
		return err
	}
	st, err := store.Open(ctx, f.dataDir, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := orchestrator.NewService(orchestrator.Config{Executor: exec, Metadata: fl.Metadata, Store: st, Groups: gm, Logger: logger})
	if f.pipelinesDir != "" {
		if err := svc.LoadDir(f.pipelinesDir); err != nil {
			return err
		}
	}
	if err := svc.LoadStore(ctx); err != nil {
		return err
	}

	var pl *placer.Placer
	var places httpapi.Placements // stays a true nil when placement is off
	if f.placement {
		cfg := placement.DefaultConfig()
		cfg.Hysteresis.MinDwell = f.minDwell
		pl = placer.New(fl, svc, ld,
			placer.Options{Config: cfg, Interval: f.placeInterval, Repository: repo, SimulateGPUs: f.simulateGPUs, Logger: logger})
		if f.simulateGPUs {
			logger.Warn("SIMULATION: models placed on gpu instances load with KIND_CPU")
		}
		places = pl
	}
	httpSrv, err := httpapi.New(svc, httpapi.Options{Logger: logger, Registerer: reg, Gatherer: reg, BodyLimit: f.bodyLimit, DefaultTimeout: f.defaultTimeout, Fleet: fl, Placements: places, Groups: gm, Version: version})
	if err != nil {
		return err
	}
	gs := grpc.NewServer(grpcapi.ServerOptions(int(f.bodyLimit))...)
	grpcapi.New(svc, grpcapi.Options{Logger: logger, ServerName: "baton", ServerVersion: version, MaxMessageBytes: int(f.bodyLimit)}).Register(gs)

	hl, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", f.grpcAddr)
	if err != nil {
		hl.Close()
		return err
	}
	hs := &http.Server{Handler: httpSrv.Handler(), ReadHeaderTimeout: 10 * time.Second}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); fl.Run(runCtx) }()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if f.fleetFile != "" {
			fl.WatchFile(runCtx, f.fleetFile, f.pollInterval) // hot reload
		}
	}()
	placeDone := make(chan struct{})
	go func() {
		defer close(placeDone)
		if pl != nil {
			pl.Run(runCtx)
		}
	}()
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(hl) }()
	go func() { errc <- gs.Serve(gl) }()

	if len(groupSpecs) > 0 {
		// Pinned and prewarm members load before Baton reports ready; a
		// member that fails is logged and loads on demand later.
		if err := gm.Prewarm(ctx); err != nil {
			logger.Warn("group prewarm incomplete", "err", err)
		}
	}
	svc.SetReady(true)
	logger.Info("baton serving", "http", hl.Addr().String(), "grpc", gl.Addr().String(), "pipelines", svc.PipelineNames(), "instances", len(fleetFile.Instances))
	fmt.Printf("baton: serving %v on http://%s and grpc %s\n", svc.PipelineNames(), hl.Addr(), gl.Addr())

	select {
	case <-ctx.Done():
	case err := <-errc:
		logger.Error("server stopped", "err", err)
	}
	// Shutdown order: readiness 503, drain in-flight requests, stop the
	// servers, then the poller; deferred calls close clients and the fleet.
	svc.SetReady(false)
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(drainCtx); err != nil {
		logger.Warn("http drain", "err", err)
	}
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-drainCtx.Done():
		gs.Stop()
	}
	cancelRun()
	<-pollDone
	<-watchDone
	<-placeDone
	logger.Info("baton stopped")
	return nil
}

// startLocalAgent runs the node agent in-process for --local-fleet.
func startLocalAgent(ctx context.Context, logger *slog.Logger) (addr string, stop func(), err error) {
	gpus := telemetry.OpenSystemNVML(logger)
	agent, err := telemetry.NewAgent(telemetry.AgentOptions{
		Sampler: telemetry.NewSampler(telemetry.SamplerOptions{Node: "local", GPUs: gpus, Host: telemetry.NewHostStats()}),
		Logger:  logger,
	})
	if err != nil {
		gpus.Close()
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gpus.Close()
		return "", nil, err
	}
	srv := &http.Server{Handler: agent.Handler(), ReadHeaderTimeout: 5 * time.Second}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = srv.Serve(l); done <- struct{}{} }()
	go func() { agent.Run(runCtx); done <- struct{}{} }()
	agent.Refresh(ctx)
	return l.Addr().String(), func() {
		cancel()
		_ = srv.Close()
		<-done
		<-done
		gpus.Close()
	}, nil
}
