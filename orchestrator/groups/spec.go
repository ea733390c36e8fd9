package groups

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/batonhq/baton/orchestrator/pipeline"
)

// ErrInvalidSpec is wrapped by every group spec error.
var ErrInvalidSpec = errors.New("invalid group")

// Spec is a multi-model group as users write it (YAML or JSON).
type Spec struct {
	// Name is what pipeline stages reference (`group: churn`).
	Name string `json:"name"`
	// Members lists the models explicitly; MemberPattern (a shell glob such
	// as "churn_*") is resolved against Triton's repository index. At least
	// one of the two.
	Members       []string `json:"members,omitempty"`
	MemberPattern string   `json:"memberPattern,omitempty"`
	// Budget is the memory the group may use per instance: bytes ("8GiB",
	// "500MB", "1073741824") or a fraction of measured free memory ("40%").
	Budget Budget `json:"budget"`
	// Pinned members are never evicted (and are loaded at start).
	Pinned []string `json:"pinned,omitempty"`
	// MaxLoaded caps loaded members per instance (0: only the budget).
	MaxLoaded int `json:"maxLoaded,omitempty"`
	// Policy is lru (default) or cost-aware.
	Policy string `json:"policy,omitempty"`
	// Prewarm members are loaded at start.
	Prewarm []string `json:"prewarm,omitempty"`
	// MaxConcurrentLoads per instance protects live traffic (default 1).
	MaxConcurrentLoads int `json:"maxConcurrentLoads,omitempty"`
}

// Budget is a per-instance memory budget: Bytes, or Fraction of measured
// free memory when Bytes is 0.
type Budget struct {
	Bytes    uint64
	Fraction float64
}

var sizeRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*$`)

// UnmarshalJSON accepts "40%", "8GiB", "500MB" or a number of bytes.
func (b *Budget) UnmarshalJSON(raw []byte) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n uint64
		if err := json.Unmarshal(raw, &n); err != nil {
			return fmt.Errorf("budget %s: want bytes, a size such as \"8GiB\", or a percentage such as \"40%%\"", raw)
		}
		*b = Budget{Bytes: n}
		return nil
	}
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return fmt.Errorf("budget %q: a percentage must be in (0, 100]", s)
		}
		*b = Budget{Fraction: f / 100}
		return nil
	}
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return fmt.Errorf("budget %q: want bytes, a size such as \"8GiB\", or a percentage such as \"40%%\"", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	*b = Budget{Bytes: uint64(v * mult)}
	return nil
}

// MarshalJSON writes the budget back in the form it was given.
func (b Budget) MarshalJSON() ([]byte, error) {
	if b.Bytes == 0 && b.Fraction > 0 {
		return json.Marshal(strconv.FormatFloat(b.Fraction*100, 'f', -1, 64) + "%")
	}
	return json.Marshal(b.Bytes)
}

// Parse reads a group spec (YAML 1.2 or JSON); unknown fields are errors.
func Parse(doc []byte) (*Spec, error) {
	var tree any
	if err := yaml.Unmarshal(doc, &tree); err != nil {
		return nil, fmt.Errorf("%w: not YAML or JSON: %v", ErrInvalidSpec, err)
	}
	js, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSpec, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSpec, err)
	}
	return &s, nil
}

// LoadDir reads every *.yaml, *.yml and *.json group spec in dir, sorted
// by file name; each is validated. A missing dir is no groups.
func LoadDir(dir string) ([]*Spec, error) {
	paths, err := pipeline.SpecFiles(dir)
	if err != nil {
		return nil, err
	}
	var specs []*Spec
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := Parse(b)
		if err == nil {
			err = s.Validate()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		specs = append(specs, s)
	}
	return specs, errors.Join(errs...)
}

// Validate reports every problem, each with its field.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if s.Name == "" {
		bad("name", "required")
	}
	if len(s.Members) == 0 && s.MemberPattern == "" {
		bad("members", "list members or give memberPattern")
	}
	if s.MemberPattern != "" {
		if _, err := path.Match(s.MemberPattern, ""); err != nil {
			bad("memberPattern", "%q: %v", s.MemberPattern, err)
		}
	}
	seen := map[string]bool{}
	for i, m := range s.Members {
		if m == "" || seen[m] {
			bad(fmt.Sprintf("members[%d]", i), "%q empty or listed twice", m)
		}
		seen[m] = true
	}
	if s.Budget.Bytes == 0 && s.Budget.Fraction == 0 {
		bad("budget", "required: bytes (\"8GiB\") or a share of free memory (\"40%%\")")
	}
	for field, list := range map[string][]string{"pinned": s.Pinned, "prewarm": s.Prewarm} {
		for i, m := range list {
			if !s.IsMember(m) {
				bad(fmt.Sprintf("%s[%d]", field, i), "%q is not a member of group %q", m, s.Name)
			}
		}
	}
	switch s.Policy {
	case "", "lru", "cost-aware":
	default:
		bad("policy", "%q: want lru or cost-aware", s.Policy)
	}
	if s.MaxLoaded < 0 || s.MaxConcurrentLoads < 0 {
		bad("maxLoaded", "negative")
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return fmt.Errorf("%w %q: %w", ErrInvalidSpec, s.Name, errors.Join(errs...))
	}
	return nil
}

// IsMember reports whether model belongs to the group by list or pattern.
func (s *Spec) IsMember(model string) bool {
	if slices.Contains(s.Members, model) {
		return true
	}
	if s.MemberPattern != "" {
		ok, _ := path.Match(s.MemberPattern, model)
		return ok
	}
	return false
}

// Resolve lists the members among the models of a repository index
// (explicit members first, in order, then pattern matches sorted).
func (s *Spec) Resolve(index []string) []string {
	out := slices.Clone(s.Members)
	var matched []string
	for _, m := range index {
		if !slices.Contains(out, m) && s.MemberPattern != "" {
			if ok, _ := path.Match(s.MemberPattern, m); ok {
				matched = append(matched, m)
			}
		}
	}
	slices.Sort(matched)
	return append(out, matched...)
}
