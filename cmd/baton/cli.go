package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/batonhq/baton/orchestrator/adminclient"
)

// serverURL is where the CLI finds Baton: --server, else $BATON_SERVER,
// else the local default.
func serverURL(cmd *cobra.Command) string {
	if s, _ := cmd.Flags().GetString("server"); s != "" {
		return s
	}
	if s := os.Getenv("BATON_SERVER"); s != "" {
		return s
	}
	return "http://127.0.0.1:8080"
}

func addServerFlag(cmd *cobra.Command) {
	cmd.Flags().String("server", "", "Baton's HTTP address (default $BATON_SERVER or http://127.0.0.1:8080)")
}

func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = w.Write(raw)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func newApplyCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or replace a pipeline from a YAML or JSON spec",
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := readInput(file)
			if err != nil {
				return err
			}
			created, stored, err := adminclient.New(serverURL(cmd), nil).Apply(cmd.Context(), spec)
			if err != nil {
				return err
			}
			verb := "replaced"
			if created {
				verb = "created"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "pipeline %s\n", verb)
			return printJSON(cmd.OutOrStdout(), stored)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "spec file (- for stdin)")
	_ = cmd.MarkFlagRequired("file")
	addServerFlag(cmd)
	return cmd
}

func newGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get pipelines [NAME] | get groups [NAME] | get fleet",
		Short: "Show pipelines, multi-model groups (all, or one) or the fleet",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := adminclient.New(serverURL(cmd), nil)
			switch {
			case strings.HasPrefix(args[0], "pipeline") && len(args) == 2:
				raw, err := c.Get(cmd.Context(), args[1])
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), raw)
			case strings.HasPrefix(args[0], "pipeline"):
				list, err := c.List(cmd.Context())
				if err != nil {
					return err
				}
				raw, _ := json.Marshal(list)
				return printJSON(cmd.OutOrStdout(), raw)
			case strings.HasPrefix(args[0], "group"):
				path := "/admin/groups"
				if len(args) == 2 {
					path += "/" + url.PathEscape(args[1])
				}
				raw, err := c.GetRaw(cmd.Context(), path)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), raw)
			case args[0] == "fleet" && len(args) == 1:
				raw, err := c.GetRaw(cmd.Context(), "/admin/fleet")
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), raw)
			}
			return fmt.Errorf("unknown resource %q: want pipelines, groups or fleet", args[0])
		},
	}
	addServerFlag(cmd)
	return cmd
}

func newDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete pipeline NAME",
		Short: "Delete an API-created pipeline",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !strings.HasPrefix(args[0], "pipeline") {
				return fmt.Errorf("unknown resource %q: want pipeline", args[0])
			}
			if err := adminclient.New(serverURL(cmd), nil).Delete(cmd.Context(), args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "pipeline %s deleted\n", args[1])
			return nil
		},
	}
	addServerFlag(cmd)
	return cmd
}

func newInvokeCmd() *cobra.Command {
	var file, data, contentType, accept, target string
	cmd := &cobra.Command{
		Use:   "invoke NAME (--file FILE | --data DATA)",
		Short: "Call a pipeline's /invocations door with CSV or JSON rows",
		Example: `  baton invoke tabular --data 'M,0.455,0.365,0.095,0.514'
  baton invoke tabular --file rows.csv --accept text/csv
  baton invoke churn --data 'F,0.53,0.42,0.135,0.677' --target-model churn_us_east`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body []byte
			switch {
			case file != "" && data != "":
				return fmt.Errorf("give --file or --data, not both")
			case file != "":
				b, err := readInput(file)
				if err != nil {
					return err
				}
				body = b
			case data != "":
				body = []byte(data + "\n")
			default:
				return fmt.Errorf("give --file or --data")
			}
			if contentType == "" {
				contentType = "text/csv"
				if t := bytes.TrimSpace(body); len(t) > 0 && (t[0] == '[' || t[0] == '{') {
					contentType = "application/json"
				}
			}
			out, ct, err := adminclient.New(serverURL(cmd), nil).Invoke(cmd.Context(), args[0], body, contentType, accept, target)
			if err != nil {
				return err
			}
			if strings.Contains(ct, "json") {
				return printJSON(cmd.OutOrStdout(), out)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "request body file (- for stdin)")
	f.StringVarP(&data, "data", "d", "", "request body inline (one CSV row, or JSON)")
	f.StringVar(&contentType, "content-type", "", "text/csv or application/json (default: guessed from the body)")
	f.StringVar(&accept, "accept", "application/json", "application/json or text/csv")
	f.StringVar(&target, "target-model", "", "model for a group stage (X-Baton-Target-Model)")
	addServerFlag(cmd)
	return cmd
}

func newPlacementsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "placements", Short: "Placement decisions"}
	explain := &cobra.Command{
		Use:   "explain [PIPELINE]",
		Short: "Why each stage runs where it does: every candidate's filter verdicts and scores",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if len(args) == 1 {
				q.Set("pipeline", args[0])
			}
			asJSON, _ := cmd.Flags().GetBool("json")
			if !asJSON {
				q.Set("format", "text")
				text, _, err := adminclient.New(serverURL(cmd), nil).GetText(cmd.Context(), "/admin/placements?"+q.Encode())
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(text)
				return err
			}
			raw, err := adminclient.New(serverURL(cmd), nil).GetRaw(cmd.Context(), "/admin/placements?"+q.Encode())
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), raw)
		},
	}
	addServerFlag(explain)
	explain.Flags().Bool("json", false, "print the explanation as JSON")
	cmd.AddCommand(explain)
	return cmd
}
