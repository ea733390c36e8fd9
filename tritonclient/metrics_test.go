package tritonclient

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMetricsGolden(t *testing.T) {
	tests := []struct {
		file string
		want *Metrics
	}{
		{
			file: "cpu_only.txt",
			want: &Metrics{
				CPU: CPUMetrics{
					Utilization:      0.125,
					MemoryTotalBytes: 134997483520,
					MemoryUsedBytes:  41234567168,
				},
				Models: []ModelMetrics{
					{
						Model:                 "add",
						Version:               "1",
						RequestSuccess:        1250,
						RequestFailure:        6,
						FailureByReason:       map[string]float64{"OTHER": 2, "BACKEND": 1, "CANCELED": 0, "REJECTED": 3},
						InferenceCount:        1250,
						ExecutionCount:        312,
						PendingRequests:       0,
						RequestDuration:       1873402 * time.Microsecond,
						QueueDuration:         120455 * time.Microsecond,
						ComputeInputDuration:  30211 * time.Microsecond,
						ComputeInferDuration:  1500034 * time.Microsecond,
						ComputeOutputDuration: 18777 * time.Microsecond,
					},
					{
						Model:                 "tokenizer",
						Version:               "1",
						RequestSuccess:        40,
						RequestFailure:        0,
						FailureByReason:       map[string]float64{"OTHER": 0, "BACKEND": 0, "CANCELED": 0, "REJECTED": 0},
						InferenceCount:        40,
						ExecutionCount:        40,
						PendingRequests:       2,
						RequestDuration:       9120 * time.Microsecond,
						QueueDuration:         455 * time.Microsecond,
						ComputeInputDuration:  310 * time.Microsecond,
						ComputeInferDuration:  7912 * time.Microsecond,
						ComputeOutputDuration: 203 * time.Microsecond,
					},
				},
				PinnedMemoryTotalBytes: 268435456,
				PinnedMemoryUsedBytes:  0,
			},
		},
		{
			file: "two_gpus.txt",
			want: &Metrics{
				GPUs: []GPUMetrics{
					{
						UUID:             "GPU-3f9b2d1e-0c44-4b7a-8e25-6d1a9f0b3c57",
						Utilization:      0.87,
						MemoryTotalBytes: 85520809984,
						MemoryUsedBytes:  21474836480,
						PowerUsageWatts:  512.5,
						PowerLimitWatts:  700,
						EnergyJoules:     1843200.75,
					},
					{
						UUID:             "GPU-e4a1c3b2-7d5f-4e08-9a61-2f3b8c0d7e19",
						Utilization:      0,
						MemoryTotalBytes: 85520809984,
						MemoryUsedBytes:  553648128,
						PowerUsageWatts:  71.25,
						PowerLimitWatts:  700,
						EnergyJoules:     25650.5,
					},
				},
				CPU: CPUMetrics{
					Utilization:      0.3125,
					MemoryTotalBytes: 2164663517184,
					MemoryUsedBytes:  98784247808,
				},
				Models: []ModelMetrics{
					{
						Model:                 "add",
						Version:               "1",
						RequestSuccess:        7,
						FailureByReason:       map[string]float64{"OTHER": 0, "BACKEND": 0, "CANCELED": 0, "REJECTED": 0},
						InferenceCount:        7,
						ExecutionCount:        7,
						RequestDuration:       42487 * time.Microsecond,
						QueueDuration:         350 * time.Microsecond,
						ComputeInputDuration:  210 * time.Microsecond,
						ComputeInferDuration:  41500 * time.Microsecond,
						ComputeOutputDuration: 427 * time.Microsecond,
					},
					{
						Model:                 "resnet50",
						Version:               "2",
						RequestSuccess:        120,
						RequestFailure:        1,
						FailureByReason:       map[string]float64{"OTHER": 0, "BACKEND": 1, "CANCELED": 0, "REJECTED": 0},
						InferenceCount:        120,
						ExecutionCount:        120,
						RequestDuration:       604800 * time.Microsecond,
						QueueDuration:         1200 * time.Microsecond,
						ComputeInputDuration:  24000 * time.Microsecond,
						ComputeInferDuration:  570000 * time.Microsecond,
						ComputeOutputDuration: 9600 * time.Microsecond,
					},
					{
						Model:                 "resnet50",
						Version:               "10",
						RequestSuccess:        5000,
						RequestFailure:        16,
						FailureByReason:       map[string]float64{"OTHER": 0, "BACKEND": 0, "CANCELED": 4, "REJECTED": 12},
						InferenceCount:        40000,
						ExecutionCount:        1250,
						PendingRequests:       17,
						RequestDuration:       98123456 * time.Microsecond,
						QueueDuration:         20345678 * time.Microsecond,
						ComputeInputDuration:  4567890 * time.Microsecond,
						ComputeInferDuration:  70123456 * time.Microsecond,
						ComputeOutputDuration: 3086432 * time.Microsecond,
					},
				},
				PinnedMemoryTotalBytes: 268435456,
				PinnedMemoryUsedBytes:  1048576,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "metrics", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseMetrics(f)
			if err != nil {
				t.Fatalf("ParseMetrics: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseMetrics mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMetricsEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		page string
		want *Metrics
	}{
		{
			name: "empty page",
			page: "",
			want: &Metrics{},
		},
		{
			name: "only unknown families",
			page: "# HELP nv_future_metric Something new.\n# TYPE nv_future_metric gauge\nnv_future_metric{model=\"add\",version=\"1\"} 3\n" +
				"# TYPE nv_gpu_future_summary summary\nnv_gpu_future_summary{gpu_uuid=\"GPU-1\",quantile=\"0.5\"} 1\nnv_gpu_future_summary_sum{gpu_uuid=\"GPU-1\"} 1\nnv_gpu_future_summary_count{gpu_uuid=\"GPU-1\"} 1\n",
			want: &Metrics{},
		},
		{
			name: "failure without reason label as in older Triton",
			page: "# TYPE nv_inference_request_failure counter\nnv_inference_request_failure{model=\"add\",version=\"1\"} 5\n",
			want: &Metrics{Models: []ModelMetrics{{Model: "add", Version: "1", RequestFailure: 5, FailureByReason: map[string]float64{}}}},
		},
		{
			name: "untyped samples and no help lines",
			page: "nv_cpu_utilization 0.5\nnv_inference_pending_request_count{model=\"m\",version=\"3\"} 4\n",
			want: &Metrics{
				CPU:    CPUMetrics{Utilization: 0.5},
				Models: []ModelMetrics{{Model: "m", Version: "3", PendingRequests: 4, FailureByReason: map[string]float64{}}},
			},
		},
		{
			name: "series with extra labels are summed",
			page: "# TYPE nv_inference_count counter\nnv_inference_count{model=\"m\",version=\"1\",shard=\"a\"} 2\nnv_inference_count{model=\"m\",version=\"1\",shard=\"b\"} 3\n",
			want: &Metrics{Models: []ModelMetrics{{Model: "m", Version: "1", InferenceCount: 5, FailureByReason: map[string]float64{}}}},
		},
		{
			name: "fractional microseconds round to nanoseconds",
			page: "# TYPE nv_inference_queue_duration_us counter\nnv_inference_queue_duration_us{model=\"m\",version=\"1\"} 1.5\n",
			want: &Metrics{Models: []ModelMetrics{{Model: "m", Version: "1", QueueDuration: 1500 * time.Nanosecond, FailureByReason: map[string]float64{}}}},
		},
		{
			name: "non-numeric versions sort as strings after numeric order",
			page: "nv_inference_count{model=\"m\",version=\"b\"} 1\nnv_inference_count{model=\"m\",version=\"10\"} 1\nnv_inference_count{model=\"m\",version=\"9\"} 1\nnv_inference_count{model=\"m\",version=\"a\"} 1\n",
			want: &Metrics{Models: []ModelMetrics{
				{Model: "m", Version: "9", InferenceCount: 1, FailureByReason: map[string]float64{}},
				{Model: "m", Version: "10", InferenceCount: 1, FailureByReason: map[string]float64{}},
				{Model: "m", Version: "a", InferenceCount: 1, FailureByReason: map[string]float64{}},
				{Model: "m", Version: "b", InferenceCount: 1, FailureByReason: map[string]float64{}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetrics(strings.NewReader(tt.page))
			if err != nil {
				t.Fatalf("ParseMetrics: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseMetrics mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMetricsMalformed(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "metrics", "malformed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		page string
	}{
		{name: "malformed.txt", page: string(golden)},
		{name: "non-numeric value", page: "nv_gpu_utilization{gpu_uuid=\"GPU-1\"} busy\n"},
		{name: "unterminated label value", page: "nv_inference_count{model=\"add} 1\n"},
		{name: "second TYPE line", page: "# TYPE nv_cpu_utilization gauge\n# TYPE nv_cpu_utilization counter\nnv_cpu_utilization 1\n"},
		{name: "counter redeclared after samples", page: "# TYPE nv_inference_count counter\nnv_inference_count{model=\"a\",version=\"1\"} 1\n# TYPE nv_inference_count gauge\n"},
		{name: "html error page", page: "<html><body>503 Service Unavailable</body></html>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetrics(strings.NewReader(tt.page))
			if !errors.Is(err, ErrBadMetrics) {
				t.Fatalf("ParseMetrics error = %v, want one wrapping ErrBadMetrics", err)
			}
			if got != nil {
				t.Errorf("ParseMetrics returned %+v with an error, want nil", got)
			}
			if !strings.HasPrefix(err.Error(), "bad metrics page: text format parsing error") {
				t.Errorf("error %q does not carry the parser's message", err)
			}
		})
	}
}

type metricsErrReader struct{ err error }

func (r metricsErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestParseMetricsReadError(t *testing.T) {
	readErr := errors.New("connection reset")
	_, err := ParseMetrics(metricsErrReader{readErr})
	if !errors.Is(err, ErrBadMetrics) {
		t.Fatalf("ParseMetrics error = %v, want one wrapping ErrBadMetrics", err)
	}
	if !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("error %q does not mention the read error", err)
	}
}

func TestMetricsModel(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "metrics", "two_gpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseMetrics(f)
	if err != nil {
		t.Fatalf("ParseMetrics: %v", err)
	}
	tests := []struct {
		name, version string
		wantOK        bool
		wantSuccess   float64
	}{
		{name: "resnet50", version: "10", wantOK: true, wantSuccess: 5000},
		{name: "resnet50", version: "2", wantOK: true, wantSuccess: 120},
		{name: "add", version: "1", wantOK: true, wantSuccess: 7},
		{name: "resnet50", version: "3"},
		{name: "missing", version: "1"},
	}
	for _, tt := range tests {
		got, ok := m.Model(tt.name, tt.version)
		if ok != tt.wantOK {
			t.Errorf("Model(%q, %q) ok = %v, want %v", tt.name, tt.version, ok, tt.wantOK)
			continue
		}
		if !ok {
			if diff := cmp.Diff(ModelMetrics{}, got); diff != "" {
				t.Errorf("Model(%q, %q) not found but returned (-want +got):\n%s", tt.name, tt.version, diff)
			}
			continue
		}
		if got.Model != tt.name || got.Version != tt.version || got.RequestSuccess != tt.wantSuccess {
			t.Errorf("Model(%q, %q) = %s/%s success %v, want success %v", tt.name, tt.version, got.Model, got.Version, got.RequestSuccess, tt.wantSuccess)
		}
	}
}

func TestMicrosToDuration(t *testing.T) {
	tests := []struct {
		us   float64
		want time.Duration
	}{
		{us: 0, want: 0},
		{us: 42487, want: 42487 * time.Microsecond},
		{us: 0.0004, want: 0},
		{us: 0.0006, want: time.Nanosecond},
		{us: 1e30, want: time.Duration(1<<63 - 1)},
		{us: -1e30, want: time.Duration(-1 << 63)},
		{us: math.NaN(), want: 0},
	}
	for _, tt := range tests {
		if got := microsToDuration(tt.us); got != tt.want {
			t.Errorf("microsToDuration(%v) = %v, want %v", tt.us, got, tt.want)
		}
	}
}
