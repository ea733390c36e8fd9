package v2http

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkFloat compares parseFloat32 and parseFloat64 on lit with strconv.
func checkFloat(t *testing.T, lit string) {
	t.Helper()
	want32, err32 := strconv.ParseFloat(lit, 32)
	got32, ok32 := parseFloat32([]byte(lit))
	if ok32 != (err32 == nil) || (ok32 && math.Float32bits(got32) != math.Float32bits(float32(want32))) {
		t.Fatalf("parseFloat32(%q) = %v, %v; strconv gives %v, %v", lit, got32, ok32, float32(want32), err32)
	}
	want64, err64 := strconv.ParseFloat(lit, 64)
	got64, ok64 := parseFloat64([]byte(lit))
	if ok64 != (err64 == nil) || (ok64 && math.Float64bits(got64) != math.Float64bits(want64)) {
		t.Fatalf("parseFloat64(%q) = %v, %v; strconv gives %v, %v", lit, got64, ok64, want64, err64)
	}
}

func TestParseFloatMatchesStrconv(t *testing.T) {
	for _, lit := range []string{
		"0", "-0", "0.0", "-0.0e5", "1", "-1", "0.1", "1e22", "1e23", "1e-22", "1e-23", "123456789012345", "1234567890123456",
		"0.000000000000000000001", "9007199254740993", "3.4028234663852886e38", "3.4028235677973366e38", "1e39", "1e-45", "7e-46",
		"1.1754943508222875e-38", "1.1754942e-38", "16777217", "16777219", "33554435", "0.100000001490116119384765625",
		"1.00000005960464477539062500", "1.0000000596046448", "1.00000011920928955078125", "2.5e-1", "1E2", "1e+2", "1e0005",
		"1e-400", "1e400", "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
	} {
		checkFloat(t, lit)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		f32 := math.Float32frombits(rng.Uint32())
		f64 := math.Float64frombits(rng.Uint64())
		if math.IsNaN(float64(f32)) || math.IsInf(float64(f32), 0) || math.IsNaN(f64) || math.IsInf(f64, 0) {
			continue
		}
		prec := rng.IntN(20) - 1
		checkFloat(t, strconv.FormatFloat(float64(f32), 'g', -1, 32))
		checkFloat(t, strconv.FormatFloat(float64(f32), 'g', -1, 64))
		checkFloat(t, strconv.FormatFloat(float64(f32), 'e', prec, 64))
		checkFloat(t, strconv.FormatFloat(f64, 'e', prec, 64))
		// Short decimals near float32 halfway points, where double rounding would bite.
		mid := float64(f32) + float64(math.Nextafter32(f32, float32(math.Inf(1)))-f32)/2
		checkFloat(t, strconv.FormatFloat(mid, 'e', prec, 64))
		// Plain decimals of typical feature values.
		checkFloat(t, strconv.FormatFloat(rng.NormFloat64()*100, 'f', rng.IntN(12), 64))
		checkFloat(t, strconv.Itoa(rng.IntN(1<<30)-1<<29)+"."+strconv.Itoa(rng.IntN(1000000)))
	}
}

func FuzzParseFloat(f *testing.F) {
	for _, s := range []string{"0", "-1.5e-3", "16777217", "3.4028235677973366e38", "1e-45", "0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		p := parser{buf: []byte(lit)}
		if _, _, err := p.number(); err != nil || p.pos != len(lit) {
			return // not a JSON number
		}
		checkFloat(t, lit)
	})
}
