package harness

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Result is a whole run: how it was made and what each level measured.
type Result struct {
	Meta   Meta
	Levels []Level
}

// Meta records everything needed to repeat or judge a run.
type Meta struct {
	// Tool and Version name the harness's caller ("baton bench", its version).
	Tool, Version string
	// Command is the exact command line.
	Command           string
	Started, Finished time.Time
	Machine           Machine
	Target            TargetMeta
	Load              LoadMeta
	// Interrupted says the run was cut short; the last level is partial.
	Interrupted bool
	// Notes are free-form remarks (what statistics were read, warnings).
	Notes []string
}

// TargetMeta describes what was measured.
type TargetMeta struct {
	URL         string `json:"url"`
	Protocol    string `json:"protocol"`
	Door        string `json:"door"`
	Model       string `json:"model"`
	Version     string `json:"version,omitempty"`
	TargetModel string `json:"target_model,omitempty"`
	// Body is "binary" or "json" (v2 HTTP), "text/csv" or
	// "application/json" (/invocations), "protobuf" (gRPC).
	Body string `json:"body"`
	// Server, ServerVersion and Platform come from the probe.
	Server        string `json:"server"`
	ServerVersion string `json:"server_version"`
	Platform      string `json:"platform"`
}

// LoadMeta describes the load and the measurement rule.
type LoadMeta struct {
	// Mode is "concurrency" or "request_rate".
	Mode             string
	Distribution     string
	Seed             uint64
	Window           time.Duration
	StabilityPercent float64
	StabilityWindows int
	MaxTrials        int
	WarmupRequests   int
	BatchSize        int
	InputData        string
}

// Machine describes the host that ran the load.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"go_version"`
}

// ThisMachine describes the current host (CPU model from /proc/cpuinfo).
func ThisMachine() Machine {
	return Machine{CPU: cpuModel(), Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// String is "AMD EPYC, 2 cores, linux/amd64".
func (m Machine) String() string {
	return strings.Join([]string{m.CPU, strconv.Itoa(m.Cores) + " cores", m.OS + "/" + m.Arch}, ", ")
}

// ShellQuote renders args as a command line a POSIX shell reads back the same.
func ShellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
