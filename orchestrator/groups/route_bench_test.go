package groups

import (
	"testing"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/pipeline"
)

// BenchmarkRoute compares the group manager's hit path (target loaded:
// membership check, pick, reference, in-flight count, release) with the
// fleet's routing of a plain stage, on the same fake instance. Run:
//
//	go test ./orchestrator/groups -run '^$' -bench Route -benchmem -count 5
func BenchmarkRoute(b *testing.B) {
	for _, tc := range []struct {
		name  string
		group string
	}{{"fleet-plain-stage", ""}, {"group-hit", "g"}} {
		b.Run(tc.name, func(b *testing.B) {
			spec := &Spec{Name: "g", MemberPattern: "m*", Budget: Budget{Bytes: 1000}}
			e := newEnv(b, spec, Options{LoadsPerSecond: -1}, members(3), 100, nil)
			ctx := b.Context()
			target := executor.Target{Pipeline: "p", Stage: "s", Model: "m01", Group: tc.group, Device: pipeline.DeviceAny}
			// Load m01 once (the group's cold path) so both are warm.
			r, err := e.m.Route(ctx, executor.Target{Model: "m01", Group: "g", Device: pipeline.DeviceAny}, nil)
			if err != nil {
				b.Fatal(err)
			}
			r.Done()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := e.m.Route(ctx, target, nil)
				if err != nil {
					b.Fatal(err)
				}
				r.Done()
			}
		})
	}
}
