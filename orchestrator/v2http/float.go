package v2http

import (
	"math"
	"strconv"
	"unsafe"
)

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactFloat converts a JSON number literal (already checked by
// parser.number) to the nearest float64 when that takes a single IEEE
// operation on exact operands: at most 15 significant digits and a decimal
// exponent within ±22 (Clinger's fast path). ok is false otherwise, and the
// caller falls back to strconv.
func exactFloat(lit []byte) (f float64, ok bool) {
	i, neg := 0, false
	if lit[0] == '-' {
		neg, i = true, 1
	}
	var mant uint64
	digits, exp := 0, 0
	for ; i < len(lit) && lit[i] >= '0' && lit[i] <= '9'; i++ {
		if mant == 0 && lit[i] == '0' {
			continue
		}
		if digits == 15 {
			return 0, false
		}
		mant = mant*10 + uint64(lit[i]-'0')
		digits++
	}
	if i < len(lit) && lit[i] == '.' {
		for i++; i < len(lit) && lit[i] >= '0' && lit[i] <= '9'; i++ {
			exp--
			if mant == 0 && lit[i] == '0' {
				continue
			}
			if digits == 15 {
				return 0, false
			}
			mant = mant*10 + uint64(lit[i]-'0')
			digits++
		}
	}
	if i < len(lit) { // exponent
		i++
		eneg := false
		switch lit[i] {
		case '-':
			eneg = true
			i++
		case '+':
			i++
		}
		e := 0
		for ; i < len(lit); i++ {
			if e > 1000 {
				return 0, false
			}
			e = e*10 + int(lit[i]-'0')
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	switch {
	case mant == 0:
		f = 0
	case exp >= 0 && exp < len(pow10):
		f = float64(mant) * pow10[exp]
	case exp < 0 && -exp < len(pow10):
		f = float64(mant) / pow10[-exp]
	default:
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

// parseFloat32 converts a JSON number literal to the nearest float32; ok is false when it is out of float32's range.
func parseFloat32(lit []byte) (float32, bool) {
	if f, ok := exactFloat(lit); ok {
		// Rounding to float64 first cannot change the float32 result unless
		// it lands exactly on a float32 halfway point, and float32's
		// subnormal and overflow ranges are left to strconv.
		a := math.Abs(f)
		if a == 0 || (a >= 0x1p-126 && a <= math.MaxFloat32 && math.Float64bits(f)&(1<<29-1) != 1<<28) {
			return float32(f), true
		}
	}
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 32)
	return float32(f), err == nil
}

// parseFloat64 converts a JSON number literal to the nearest float64; ok is false when it is out of range.
func parseFloat64(lit []byte) (float64, bool) {
	if f, ok := exactFloat(lit); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	return f, err == nil
}
