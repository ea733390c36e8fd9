package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/batonhq/baton/telemetry"
)

// The agent starts a sampling goroutine and HTTP servers; none may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuffer collects slog text output from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines written so far.
func (b *logBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	text := strings.TrimSpace(b.buf.String())
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// fakeClock is a settable clock for Sampler.Now and Agent.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeHost is a HostSource returning fixed values.
type fakeHost struct {
	host telemetry.Host
	errs []string
}

func (f fakeHost) SampleHost(context.Context) (telemetry.Host, []string) {
	h := f.host
	h.Missing = append([]string(nil), h.Missing...)
	return h, append([]string(nil), f.errs...)
}

// idleHost is a plausible 64 GiB host.
var idleHost = fakeHost{host: telemetry.Host{
	CPUUtilization: 0.25, MemoryTotalBytes: 64 << 30, MemoryAvailableBytes: 48 << 30, MemoryUsedBytes: 16 << 30,
	Load1: 1.5, Load5: 1.25, Load15: 1,
}}

// fakeGPUs is a GPUSource returning fixed values.
type fakeGPUs struct {
	gpus      []telemetry.GPU
	errs      []string
	simulated bool
}

func (f fakeGPUs) SampleGPUs(context.Context) ([]telemetry.GPU, []string) {
	return append([]telemetry.GPU(nil), f.gpus...), append([]string(nil), f.errs...)
}

func (f fakeGPUs) Simulated() bool { return f.simulated }
