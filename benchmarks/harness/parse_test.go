package harness

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConcurrencyRange(t *testing.T) {
	tests := []struct {
		in   string
		want []int
	}{
		{"4", []int{4}},
		{"1:4", []int{1, 2, 3, 4}},
		{"2:10:4", []int{2, 6, 10}},
		{"2:11:4", []int{2, 6, 10}}, // the end need not be hit
		{"1:32:x2", []int{1, 2, 4, 8, 16, 32}},
		{"3:30:x3", []int{3, 9, 27}},
	}
	for _, tc := range tests {
		got, err := ParseConcurrencyRange(tc.in)
		if err != nil {
			t.Errorf("ParseConcurrencyRange(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseConcurrencyRange(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{"", "0", "-1", "4:2", "1:2:3:4", "1:8:x1", "1:8:0", "a", "1.5", "1:100000"} {
		if got, err := ParseConcurrencyRange(bad); !errors.Is(err, ErrBadFlag) {
			t.Errorf("ParseConcurrencyRange(%q) = %v, %v; want an ErrBadFlag", bad, got, err)
		}
	}
}

func TestParseRateRange(t *testing.T) {
	tests := []struct {
		in   string
		want []float64
	}{
		{"50", []float64{50}},
		{"50:200:50", []float64{50, 100, 150, 200}},
		{"10:80:x2", []float64{10, 20, 40, 80}},
		{"0.1:0.3:0.1", []float64{0.1, 0.2, 0.30000000000000004}}, // the end survives rounding
		{"2.5:5", []float64{2.5, 3.5, 4.5}},
	}
	for _, tc := range tests {
		got, err := ParseRateRange(tc.in)
		if err != nil {
			t.Errorf("ParseRateRange(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseRateRange(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{"0", "-5", "5:1", "inf", "NaN", "x"} {
		if _, err := ParseRateRange(bad); !errors.Is(err, ErrBadFlag) {
			t.Errorf("ParseRateRange(%q): %v; want an ErrBadFlag", bad, err)
		}
	}
}

func TestParseShape(t *testing.T) {
	name, dims, err := ParseShape("INPUT0:1,16")
	if err != nil || name != "INPUT0" || !cmp.Equal(dims, []int64{1, 16}) {
		t.Errorf("ParseShape(INPUT0:1,16) = %q, %v, %v", name, dims, err)
	}
	name, dims, err = ParseShape("a:b:4") // the last colon separates
	if err != nil || name != "a:b" || !cmp.Equal(dims, []int64{4}) {
		t.Errorf("ParseShape(a:b:4) = %q, %v, %v", name, dims, err)
	}
	for _, bad := range []string{"INPUT0", ":4", "X:", "X:1,-2", "X:one"} {
		if _, _, err := ParseShape(bad); !errors.Is(err, ErrBadFlag) {
			t.Errorf("ParseShape(%q): %v; want an ErrBadFlag", bad, err)
		}
	}
}

func TestParseServerTiming(t *testing.T) {
	h := `preprocess;dur=1.234;desc="tabular_preprocess@triton-0", classify;dur=0.5;desc="a,b;c@triton-1", baton;dur=0.041;desc="overhead", total;dur=1.775`
	want := []TimingEntry{
		{Name: "preprocess", Dur: 1234 * 1000, Desc: "tabular_preprocess@triton-0"},
		{Name: "classify", Dur: 500 * 1000, Desc: "a,b;c@triton-1"}, // separators inside quotes stay
		{Name: "baton", Dur: 41 * 1000, Desc: "overhead"},
		{Name: "total", Dur: 1775 * 1000},
	}
	if diff := cmp.Diff(want, ParseServerTiming(h)); diff != "" {
		t.Errorf("ParseServerTiming (-want +got):\n%s", diff)
	}
	if got := ParseServerTiming(""); got != nil {
		t.Errorf("empty header parsed as %v", got)
	}
	if got := ParseServerTiming("cache;desc=hit, ;dur=3, db;dur=oops"); len(got) != 2 || got[0].Dur != 0 || got[1].Name != "db" || got[1].Dur != 0 {
		t.Errorf("odd header parsed as %+v; want cache and db without durations", got)
	}
}

func TestSummarizeTiming(t *testing.T) {
	entries := func(pre, post, baton float64) []TimingEntry {
		return []TimingEntry{
			{Name: "pre", Dur: ms(pre), Desc: "m_pre@triton-0"},
			{Name: "post", Dur: ms(post), Desc: "m_post@triton-1"},
			{Name: "baton", Dur: ms(baton)},
			{Name: "total", Dur: ms(pre + post + baton)},
		}
	}
	samples := []Sample{
		{Timing: entries(1, 3, 0.1)},
		{Timing: entries(3, 5, 0.3)},
		{Err: "failed", Timing: entries(100, 100, 100)}, // failures are left out
		{}, // no header
	}
	got := summarizeTiming(samples)
	// Means over the 2 successes with a header: pre 2, post 4, baton 0.2,
	// total 6.2, stage sum 6 ms.
	want := &TimingStats{Requests: 2, Stages: []StageTiming{{"pre", "m_pre", ms(2)}, {"post", "m_post", ms(4)}},
		Baton: ms(0.2), Total: ms(6.2), StageSum: ms(6)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarizeTiming (-want +got):\n%s", diff)
	}
	if summarizeTiming([]Sample{{}}) != nil {
		t.Error("no headers gave timing stats")
	}
}
