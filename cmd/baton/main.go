// Command baton is Baton's single binary: the control plane (serve), the
// node agent (agent), the benchmark harness (bench), the local development
// fleet (dev) and the CLI. This package only wires flags, construction,
// signals and shutdown; the work lives in the packages it calls.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "baton:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "baton",
		Short:         "Baton: a control plane for serial inference pipelines on Triton fleets",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newDevCmd(), newServeCmd(), newAgentCmd(), newApplyCmd(), newGetCmd(), newDeleteCmd(), newInvokeCmd(), newPlacementsCmd())
	root.AddCommand(newBenchCmd())
	return root
}
