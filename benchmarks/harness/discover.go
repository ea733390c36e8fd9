package harness

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/batonhq/baton/tritonclient"
)

// StatsOptions says where the stage statistics of a run come from.
type StatsOptions struct {
	// Triton lists the Triton instances running the stage models: gRPC
	// host:port, or http://host:port for the HTTP statistics extension.
	// Empty: Baton's fleet (from AdminURL) for a pipeline, the target's own
	// server for a Triton model or ensemble.
	Triton []string
	// AdminURL is Baton's HTTP address, for its fleet and the pipeline's
	// stage models; empty means the target's URL when it is Baton over HTTP.
	AdminURL string
	// StageModels overrides which models count as stages.
	StageModels []string
}

// PlanStats builds the statistics plan for an opened endpoint: the target
// server's own statistics for the measured model, plus the stage models'
// on the Triton instances. For a Triton ensemble the stages are its
// composing models, for a plain Triton model the model itself, for a Baton
// pipeline the models its spec names (or, without the admin API, every
// model that served requests). Notes say what was found or guessed; the
// returned close releases the connections the plan opened.
func PlanStats(ctx context.Context, c *Conn, o StatsOptions) (plan *StatsPlan, notes []string, closeFn func() error, err error) {
	info, ep := c.Info(), c.Endpoint()
	plan = &StatsPlan{
		Target:      StatsSource{Instance: hostPort(ep.URL), Reader: c.Stats()},
		TargetModel: ep.Model, TargetVersion: ep.Version,
		StageModels: slices.Clone(o.StageModels),
	}
	var closers []func() error
	closeFn = func() error {
		var errs []error
		for _, f := range closers {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	addSource := func(addr, name string) error {
		if name == "" {
			name = hostPort(addr)
		}
		if strings.HasPrefix(addr, "http://") {
			hc := newHTTPClient()
			closers = append(closers, func() error { hc.CloseIdleConnections(); return nil })
			plan.Stages = append(plan.Stages, StatsSource{Instance: name, Reader: &HTTPStats{Base: strings.TrimSuffix(addr, "/"), Client: hc}})
			return nil
		}
		tc, err := tritonclient.New(hostPort(addr), tritonclient.Options{Name: name})
		if err != nil {
			return fmt.Errorf("%w: triton %q: %w", ErrBadFlag, addr, err)
		}
		closers = append(closers, tc.Close)
		plan.Stages = append(plan.Stages, StatsSource{Instance: name, Reader: tc})
		return nil
	}
	fail := func(err error) (*StatsPlan, []string, func() error, error) {
		closeFn()
		return nil, nil, func() error { return nil }, err
	}
	for _, addr := range o.Triton {
		if err := addSource(addr, ""); err != nil {
			return fail(err)
		}
	}

	if !info.IsBaton() {
		if len(o.Triton) == 0 {
			plan.Stages = append(plan.Stages, StatsSource{Instance: hostPort(ep.URL), Reader: c.Stats()})
		}
		if len(plan.StageModels) == 0 {
			plan.StageModels = []string{ep.Model}
			if info.IsEnsemble() {
				plan.StageModels = slices.Clone(info.Composing)
			}
		}
		return plan, notes, closeFn, nil
	}

	admin, explicit := o.AdminURL, o.AdminURL != ""
	if !explicit && ep.Protocol == HTTP {
		admin = "http://" + hostPort(ep.URL)
	}
	if admin == "" {
		if len(o.Triton) == 0 {
			notes = append(notes, "no Triton instances known (give --triton or --admin-url): the server breakdown has Baton's own pipeline statistics only")
		}
		return plan, notes, closeFn, nil
	}
	if !strings.Contains(admin, "://") {
		admin = "http://" + admin
	}
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	if len(plan.StageModels) == 0 {
		var doc struct {
			Spec struct {
				Stages []struct {
					Model string `json:"model"`
					Group string `json:"group"`
				} `json:"stages"`
			} `json:"spec"`
		}
		u := strings.TrimSuffix(admin, "/") + "/admin/pipelines/" + url.PathEscape(ep.Model)
		switch err := getJSON(ctx, hc, u, &doc); {
		case err != nil && explicit:
			return fail(fmt.Errorf("%w: pipeline %q from Baton's admin API: %w", ErrNotReady, ep.Model, err))
		case err != nil:
			notes = append(notes, fmt.Sprintf("stage models not read from %s (%v): every model with activity counts as a stage", u, err))
		default:
			for _, st := range doc.Spec.Stages {
				m := st.Model
				if m == "" {
					m = ep.TargetModel // a group stage runs the request's target model
				}
				if m != "" && !slices.Contains(plan.StageModels, m) {
					plan.StageModels = append(plan.StageModels, m)
				}
			}
		}
	}
	if len(o.Triton) == 0 {
		var fleet struct {
			Instances []struct {
				Name string `json:"name"`
				GRPC string `json:"grpc"`
			} `json:"instances"`
		}
		u := strings.TrimSuffix(admin, "/") + "/admin/fleet"
		switch err := getJSON(ctx, hc, u, &fleet); {
		case err != nil && explicit:
			return fail(fmt.Errorf("%w: Baton's fleet: %w", ErrNotReady, err))
		case err != nil:
			notes = append(notes, fmt.Sprintf("Baton's fleet not read from %s (%v): the server breakdown has Baton's own pipeline statistics only", u, err))
		default:
			for _, in := range fleet.Instances {
				if err := addSource(in.GRPC, in.Name); err != nil {
					return fail(err)
				}
			}
		}
	}
	return plan, notes, closeFn, nil
}
