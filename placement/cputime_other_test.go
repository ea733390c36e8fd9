//go:build !linux

package placement

import "time"

// threadCPUTime is unavailable here; the latency benchmark reports wall
// time only.
func threadCPUTime() (time.Duration, bool) { return 0, false }
