package fleet

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFile(t *testing.T) {
	f, err := ParseFile([]byte(`
instances:
  - {name: a, grpc: "127.0.0.1:8001", kind: cpu, labels: {zone: "on"}}
  - {name: b, grpc: "127.0.0.1:8101", kind: gpu, gpu: 1, gpuUUID: GPU-1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Instances) != 2 || f.Instances[1].GPU != 1 || f.Instances[0].Labels["zone"] != "on" {
		t.Fatalf("parsed %+v", f.Instances)
	}
	tests := []struct{ doc, want string }{
		{"instances: []", "none listed"},
		{"instances: [{name: a, grpc: x, kind: tpu}]", `kind: "tpu"`},
		{"instances: [{name: a, kind: cpu}]", "grpc: required"},
		{"instances: [{name: a, grpc: x, kind: cpu}, {name: a, grpc: y, kind: cpu}]", `"a" used twice`},
		{"instances: [{name: a, grpc: x, kind: cpu, gpus: 2}]", `unknown field "gpus"`},
	}
	for _, tt := range tests {
		if _, err := ParseFile([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFile(%q) = %v, want an error mentioning %q", tt.doc, err, tt.want)
		}
	}
}

func TestReloadKeepsUnchangedAndRetiresRemoved(t *testing.T) {
	parse := func(doc string) *File {
		t.Helper()
		f, err := ParseFile([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	fl, err := New(parse(`instances: [{name: a, grpc: "127.0.0.1:1", kind: cpu}, {name: b, grpc: "127.0.0.1:2", kind: cpu}]`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	a, _ := fl.Instance("a")
	fl.NoteLoaded("a", "m")
	added, removed, err := fl.Reload(parse(`instances: [{name: a, grpc: "127.0.0.1:1", kind: cpu}, {name: c, grpc: "127.0.0.1:3", kind: gpu}]`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(added, []string{"c"}) || !slices.Equal(removed, []string{"b"}) {
		t.Fatalf("added %v removed %v, want [c] and [b]", added, removed)
	}
	a2, _ := fl.Instance("a")
	if a2 != a || !a2.HasModel("m") {
		t.Error("unchanged instance a was replaced or lost its state")
	}
	if _, ok := fl.Instance("b"); ok {
		t.Error("removed instance b still routable")
	}
	if c, ok := fl.Instance("c"); !ok || c.Spec.Kind != "gpu" {
		t.Errorf("new instance c: %v %+v", ok, c)
	}
	// A changed spec (new address) is a fresh instance.
	added, _, _ = fl.Reload(parse(`instances: [{name: a, grpc: "127.0.0.1:9", kind: cpu}, {name: c, grpc: "127.0.0.1:3", kind: gpu}]`))
	if a3, _ := fl.Instance("a"); a3 == a || !slices.Equal(added, []string{"a"}) {
		t.Errorf("changed instance a kept its old state (added %v)", added)
	}
}

func TestWatchFileReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`instances: [{name: a, grpc: "127.0.0.1:1", kind: cpu}]`)
	file, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := New(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); fl.WatchFile(ctx, path, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()

	write(`instances: [{name: a, grpc: "127.0.0.1:1", kind: cpu}, {name: z, grpc: "127.0.0.1:2", kind: cpu}]  # more`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := fl.Instance("z"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fleet file change not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	write(`instances: [{name: a, grpc: x, kind: tpu}]`) // invalid: the fleet stays
	time.Sleep(100 * time.Millisecond)                  // several watch ticks: nothing may change
	if len(fl.Instances()) != 2 {
		t.Fatalf("an invalid fleet file changed the fleet to %d instances", len(fl.Instances()))
	}
}

// TestChangedSignalsOnlyOnChange: a refresh that sees nothing new does not
// signal; a health change does.
func TestChangedSignalsOnlyOnChange(t *testing.T) {
	file, _ := ParseFile([]byte(`instances: [{name: a, grpc: "127.0.0.1:1", kind: cpu}]`))
	fl, err := New(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	drain := func() bool {
		select {
		case <-fl.Changed():
			return true
		default:
			return false
		}
	}
	fl.Refresh(t.Context()) // first refresh: the fingerprint is new
	drain()
	fl.Refresh(t.Context()) // nothing listens on port 1: still unhealthy, nothing new
	if drain() {
		t.Error("signalled a change when nothing changed")
	}
	fl.NoteLoaded("a", "m")
	fl.Refresh(t.Context()) // an unhealthy instance keeps its model list: still a change
	if !drain() {
		t.Error("no signal after the model list changed")
	}
}
