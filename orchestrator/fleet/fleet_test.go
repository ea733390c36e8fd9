package fleet

import (
	"strings"
	"testing"
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
