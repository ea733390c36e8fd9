package groups

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseBudgetForms(t *testing.T) {
	tests := []struct {
		in   string
		want Budget
	}{
		{`"8GiB"`, Budget{Bytes: 8 << 30}},
		{`"500MB"`, Budget{Bytes: 500e6}},
		{`"1.5 GiB"`, Budget{Bytes: 3 << 29}}, // 1.5 × 2^30 = 3 × 2^29
		{`1073741824`, Budget{Bytes: 1 << 30}},
		{`"40%"`, Budget{Fraction: 0.4}},
	}
	for _, tt := range tests {
		s, err := Parse([]byte(`{"name": "g", "members": ["a"], "budget": ` + tt.in + `}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, s.Budget); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, bad := range []string{`"lots"`, `"150%"`, `"-1GiB"`, `true`} {
		if _, err := Parse([]byte(`{"name": "g", "members": ["a"], "budget": ` + bad + `}`)); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("budget %s: err = %v, want ErrInvalidSpec", bad, err)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s, err := Parse([]byte(`
name: churn
members: [churn_us_east, churn_us_east]
pinned: [churn_mars]
policy: fifo
`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate()
	for _, want := range []string{`budget: required`, `members[1]: "churn_us_east" empty or listed twice`, `pinned[0]: "churn_mars" is not a member of group "churn"`, `policy: "fifo": want lru or cost-aware`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestResolvePattern(t *testing.T) {
	s, err := Parse([]byte(`{name: churn, memberPattern: "churn_*", members: [special], budget: "40%", prewarm: [churn_eu_west]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	got := s.Resolve([]string{"tabular_classifier", "churn_us_east", "churn_eu_west", "special"})
	if diff := cmp.Diff([]string{"special", "churn_eu_west", "churn_us_east"}, got); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
	if s.IsMember("tabular_classifier") || !s.IsMember("churn_af_south") {
		t.Error("IsMember disagrees with the pattern")
	}
}
