package fleet

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (the
// watcher, retired clients).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
