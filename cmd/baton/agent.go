package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/batonhq/baton/telemetry"
)

type agentFlags struct {
	listen       string
	interval     time.Duration
	node         string
	simulateGPUs int
	logLevel     string
}

func newAgentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve this node's GPU and host telemetry (JSON /snapshot, Prometheus /metrics)",
		Long: `Samples this node every --interval: each GPU through NVML (memory, utilization,
temperature, power, processes) and the host's CPU, memory and load. A node
without an NVIDIA driver reports zero GPUs.

With --simulate-gpus N the GPUs are N simulated H100s from go-nvml's mock,
marked "simulated" in every snapshot; PUT /simulate/gpus/{index} with
{"memoryUsedBytes": B, "utilization": U} sets their load (for tests on
machines without GPUs).`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9400", "HTTP listen address (/snapshot, /metrics, /healthz)")
	fl.DurationVar(&f.interval, "interval", telemetry.DefaultInterval, "time between samples")
	fl.StringVar(&f.node, "node", "", "node name in snapshots (default: the hostname)")
	fl.IntVar(&f.simulateGPUs, "simulate-gpus", 0, "simulate N H100s instead of reading NVML (testing only)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runAgent(ctx context.Context, f agentFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if f.interval <= 0 {
		return fmt.Errorf("--interval %v: must be positive", f.interval)
	}
	if f.simulateGPUs < 0 {
		return fmt.Errorf("--simulate-gpus %d: must not be negative", f.simulateGPUs)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if f.node == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--node not given and no hostname: %w", err)
		}
		f.node = host
	}

	var (
		gpus  telemetry.GPUSource
		gpuCl io.Closer
		sim   *telemetry.SimulatedGPUs
	)
	if f.simulateGPUs > 0 {
		var err error
		if sim, err = telemetry.NewSimulatedGPUs(telemetry.SimulatedOptions{Count: f.simulateGPUs, Node: f.node, Logger: logger}); err != nil {
			return fmt.Errorf("--simulate-gpus: %w", err)
		}
		gpus, gpuCl = sim, sim
	} else {
		nv := telemetry.OpenSystemNVML(logger)
		gpus, gpuCl = nv, nv
	}
	defer func() {
		if err := gpuCl.Close(); err != nil {
			logger.Warn("closing gpu source", "err", err)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agent, err := telemetry.NewAgent(telemetry.AgentOptions{
		Sampler:    telemetry.NewSampler(telemetry.SamplerOptions{Node: f.node, GPUs: gpus, Host: telemetry.NewHostStats()}),
		Interval:   f.interval,
		Registerer: reg,
		Gatherer:   reg,
		Simulation: sim,
		Logger:     logger,
	})
	if err != nil {
		return err
	}

	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: agent.Handler(), ReadHeaderTimeout: 10 * time.Second}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); agent.Run(runCtx) }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()

	logger.Info("baton agent serving", "http", l.Addr().String(), "node", f.node, "interval", f.interval, "simulatedGPUs", f.simulateGPUs)
	fmt.Printf("baton agent: serving telemetry for %s on http://%s\n", f.node, l.Addr())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		logger.Error("server stopped", "err", serveErr)
	}
	// Shutdown order: drain in-flight requests and stop the server, then the
	// sampling loop; the deferred Close shuts NVML down last.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(drainCtx); err != nil {
		logger.Warn("http drain", "err", err)
	}
	cancelRun()
	<-loopDone
	logger.Info("baton agent stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
