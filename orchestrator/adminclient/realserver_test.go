package adminclient_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/batonhq/baton/orchestrator"
	"github.com/batonhq/baton/orchestrator/adminclient"
	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/httpapi"
	"github.com/batonhq/baton/orchestrator/store"
)

// TestAgainstBatonsOwnAdminAPI runs the client against the real httpapi
// (a Service with a store and no Triton: the admin routes need none), so a
// drift between the two sides of the contract fails here and not only in
// the fake-server tests.
func TestAgainstBatonsOwnAdminAPI(t *testing.T) {
	ctx := t.Context()
	fl, err := fleet.New(&fleet.File{}, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	exec, err := executor.New(fl, executor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := httpapi.New(orchestrator.NewService(orchestrator.Config{Executor: exec, Store: st}), httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	c := adminclient.New(ts.URL, nil)

	spec := []byte("name: ident\ninputs: [{name: Y, datatype: FP32, shape: [-1]}]\noutputs: [{name: Z, datatype: FP32, shape: [-1]}]\nstages: [{model: identity_fp32, inputs: {INPUT0: Y}, outputs: {OUTPUT0: Z}}]\n")
	created, stored, err := c.Apply(ctx, spec)
	if err != nil || !created {
		t.Fatalf("Apply = %v, %v; want created", created, err)
	}
	var info struct {
		Spec struct {
			Name   string `json:"name"`
			Inputs []struct {
				Name string `json:"name"`
			} `json:"inputs"`
		} `json:"spec"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal(stored, &info); err != nil || info.Spec.Name != "ident" || info.Spec.Inputs[0].Name != "Y" || info.Source != "api" {
		t.Fatalf("stored %s (%v): want the spec back, input Y kept a string", stored, err)
	}
	if created, _, err := c.Apply(ctx, spec); err != nil || created {
		t.Fatalf("second Apply = %v, %v; want replaced", created, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %d items, %v", len(list), err)
	}
	if _, err := c.Create(ctx, spec); !errors.Is(err, adminclient.ErrConflict) {
		t.Errorf("Create of an existing pipeline: err = %v, want ErrConflict", err)
	}
	_, _, err = c.Apply(ctx, []byte("name: bad\ninputs: []\n"))
	var apiErr *adminclient.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 422 || len(apiErr.Problems) == 0 || !errors.Is(err, adminclient.ErrInvalid) {
		t.Fatalf("invalid spec: err = %#v, want a 422 APIError with problems", err)
	}
	if err := c.Delete(ctx, "ident"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "ident"); !errors.Is(err, adminclient.ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
	}
}
