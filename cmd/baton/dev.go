package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/batonhq/baton/tritonclient"
	"github.com/batonhq/baton/tritonclient/localfleet"
)

// exampleModels are loaded by `baton dev up` unless --models says otherwise.
var exampleModels = []string{
	"tabular_preprocess", "tabular_classifier", "tabular_postprocess", "tabular_ensemble",
	"identity_fp32", "churn_us_east", "churn_eu_west",
}

func newDevCmd() *cobra.Command {
	dev := &cobra.Command{
		Use:   "dev",
		Short: "Local development: a real Triton fleet on 127.0.0.1",
	}
	var opts localfleet.Options
	var models string
	up := &cobra.Command{
		Use:   "up",
		Short: "Start tritonserver processes on loopback with the example models and wait for Ctrl-C",
		Long: `Starts --instances tritonserver processes on 127.0.0.1 serving --repository
with explicit model control, loads the example models, prints where each
serves, and runs until interrupted; then stops every server and removes
their shared-memory regions. Triton must be installed (deploy/local/install.sh).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if models != "" {
				opts.LoadModels = strings.Split(models, ",")
			}
			return runDevUp(cmd.Context(), opts)
		},
	}
	f := up.Flags()
	f.IntVar(&opts.Instances, "instances", 2, "number of tritonserver processes")
	f.StringVar(&opts.ModelRepository, "repository", "model_repository", "model repository directory")
	f.StringVar(&opts.TritonHome, "triton-home", localfleet.DefaultTritonHome(), "directory with bin/tritonserver and backends/")
	f.IntVar(&opts.BasePort, "base-port", 8000, "instance i listens on base+100*i (HTTP), +1 (gRPC), +2 (metrics); 0 picks free ports")
	f.StringVar(&opts.LogDir, "log-dir", filepath.Join(".baton", "logs"), "directory for the servers' logs")
	f.StringVar(&models, "models", strings.Join(exampleModels, ","), "comma-separated models to load on every instance")
	dev.AddCommand(up)
	return dev
}

func runDevUp(ctx context.Context, opts localfleet.Options) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.Logger = logger
	start := time.Now()
	fleet, err := localfleet.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := fleet.Stop(stopCtx); err != nil {
			logger.Error("stopping fleet", "err", err)
		}
	}()
	logger.Info("fleet ready", "instances", len(fleet.Instances), "elapsed", time.Since(start).Round(time.Millisecond))

	fmt.Printf("\nBaton dev fleet: %d tritonserver instance(s) on 127.0.0.1 (logs in %s)\n\n", len(fleet.Instances), fleet.LogDir())
	fmt.Printf("%-10s %-8s %-16s %-16s %-16s %s\n", "NAME", "VERSION", "HTTP", "GRPC", "METRICS", "READY MODELS")
	for _, in := range fleet.Instances {
		ready, err := readyModels(ctx, in)
		if err != nil {
			return err
		}
		fmt.Printf("%-10s %-8s %-16s %-16s %-16s %s\n", in.Name, in.Version, in.HTTPAddr, in.GRPCAddr, in.MetricsAddr, strings.Join(ready, ","))
	}
	first := fleet.Instances[0].HTTPAddr
	fmt.Printf("\nTry:\n  curl -s %s/v2/models/tabular_ensemble/ready -o /dev/null -w '%%{http_code}\\n'\n", first)
	fmt.Printf("  curl -s %s/v2/models/tabular_ensemble/infer -d '{\"inputs\":[{\"name\":\"ROWS\",\"shape\":[1,1],\"datatype\":\"BYTES\",\"data\":[\"M,0.455,0.365,0.095,0.514\"]}]}'\n", first)
	fmt.Printf("\nCtrl-C stops the fleet.\n")
	<-ctx.Done()
	logger.Info("shutting down")
	return nil
}

func readyModels(ctx context.Context, in *localfleet.Instance) ([]string, error) {
	c, err := tritonclient.New(in.GRPCAddr, tritonclient.Options{Name: in.Name})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	idx, err := c.RepositoryIndex(ctx, true)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range idx {
		names = append(names, e.Name)
	}
	return names, nil
}
