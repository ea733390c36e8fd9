package v2http

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/batonhq/baton/tritonclient"
)

// maxDataDepth bounds how deeply an input's data arrays may nest.
const maxDataDepth = 64

// elemKind is how the JSON elements of a datatype are parsed.
type elemKind uint8

const (
	elemBool elemKind = iota
	elemInt
	elemUint
	elemFP32
	elemFP64
	elemBytes
)

// dataParser parses one input's "data" array, flat or nested, into raw tensor bytes.
type dataParser struct {
	p    *parser
	l    loc
	dt   tritonclient.DataType
	kind elemKind
	size int
	// n is the element count the shape needs; count is how many elements were found so far.
	n, count int64
	// raw receives the elements while store is set (it is cleared when the data cannot fit the shape).
	raw   []byte
	store bool
	// idx holds the index within each enclosing array, for error locations.
	depth int
	idx   [maxDataDepth]int
}

// parseData parses the data array at p.pos (its '[') of a tensor with
// datatype dt whose shape needs n elements. It returns the raw bytes and how
// many elements it found; when that is not n the bytes are incomplete and
// the caller reports the mismatch. dt must not be FP16 or BF16.
func parseData(p *parser, l loc, dt tritonclient.DataType, n int64) ([]byte, int64, error) {
	d := dataParser{p: p, l: l, dt: dt, n: n, size: dt.ElementSize()}
	switch dt {
	case tritonclient.Bool:
		d.kind = elemBool
	case tritonclient.Int8, tritonclient.Int16, tritonclient.Int32, tritonclient.Int64:
		d.kind = elemInt
	case tritonclient.Uint8, tritonclient.Uint16, tritonclient.Uint32, tritonclient.Uint64:
		d.kind = elemUint
	case tritonclient.FP32:
		d.kind = elemFP32
	case tritonclient.FP64:
		d.kind = elemFP64
	default:
		d.kind = elemBytes
	}
	// Every element takes at least one byte of JSON, so a shape needing more
	// elements than there are bytes left cannot match: count without storing
	// rather than allocate for a hostile shape.
	if left := int64(len(p.buf) - p.pos); n <= left {
		d.store = true
		if d.kind == elemBytes {
			// Unescaped contents are never longer than the JSON strings
			// holding them; a short guess when the rest of the header is
			// long (more inputs may follow), append grows it if need be.
			d.raw = make([]byte, 0, 4*n+min(left, 32*n+64))
		} else {
			d.raw = make([]byte, n*int64(d.size))
		}
	}
	if err := d.array(); err != nil {
		return nil, d.count, err
	}
	return d.raw, d.count, nil
}

// path renders the location of the element (or array) at the current depth, e.g. "inputs[0].data[1][2]".
func (d *dataParser) path(depth int) string {
	var b strings.Builder
	b.WriteString(d.l.String())
	for _, i := range d.idx[:depth] {
		fmt.Fprintf(&b, "[%d]", i)
	}
	return b.String()
}

// array parses the array at p.pos (its '[') and everything nested in it.
func (d *dataParser) array() error {
	p := d.p
	if d.depth == maxDataDepth {
		return fieldErr(d.path(d.depth), "arrays nested deeper than %d levels", maxDataDepth)
	}
	p.pos++
	d.depth++
	for i := 0; ; i++ {
		more, err := p.nextElement(i == 0)
		if err != nil {
			return fieldErr(d.path(d.depth-1), "%s", err)
		}
		if !more {
			break
		}
		d.idx[d.depth-1] = i
		c := p.buf[p.pos]
		if c == '[' {
			if err := d.array(); err != nil {
				return err
			}
			continue
		}
		if err := d.element(c); err != nil {
			return err
		}
	}
	d.depth--
	return nil
}

// element parses the scalar element at p.pos, which starts with c, and stores it if there is room.
func (d *dataParser) element(c byte) error {
	p := d.p
	keep := d.store && d.count < d.n
	switch d.kind {
	case elemBool:
		if c != 't' && c != 'f' {
			return d.wrongType(c, "true or false")
		}
		b, err := p.boolValue()
		if err != nil {
			return fieldErr(d.path(d.depth), "%s", err)
		}
		if keep && b {
			d.raw[d.count] = 1
		}
	case elemBytes:
		if c != '"' {
			return d.wrongType(c, "a string")
		}
		var err error
		if keep {
			off := len(d.raw)
			d.raw = append(d.raw, 0, 0, 0, 0)
			d.raw, err = p.appendString(d.raw)
			if err == nil {
				if l := len(d.raw) - off - 4; uint64(l) <= math.MaxUint32 {
					binary.LittleEndian.PutUint32(d.raw[off:], uint32(l))
				} else {
					return fieldErr(d.path(d.depth), "a %d-byte string does not fit BYTES' 4-byte length", l)
				}
			}
		} else {
			p.scratch, err = p.appendString(p.scratch[:0])
		}
		if err != nil {
			return fieldErr(d.path(d.depth), "%s", err)
		}
	default:
		if c != '-' && (c < '0' || c > '9') {
			if d.kind == elemFP32 || d.kind == elemFP64 {
				return d.wrongType(c, "a number")
			}
			return d.wrongType(c, "an integer")
		}
		lit, isInt, err := p.number()
		if err != nil {
			return fieldErr(d.path(d.depth), "%s", err)
		}
		if err := d.number(lit, isInt, keep); err != nil {
			return err
		}
	}
	d.count++
	return nil
}

// number converts the number literal lit to the tensor's datatype, storing it if keep is set.
func (d *dataParser) number(lit []byte, isInt, keep bool) error {
	off := d.count * int64(d.size)
	switch d.kind {
	case elemFP32:
		f, ok := parseFloat32(lit)
		if !ok {
			return fieldErr(d.path(d.depth), "%s is out of range for FP32", quoteLiteral(lit))
		}
		if keep {
			binary.LittleEndian.PutUint32(d.raw[off:], math.Float32bits(f))
		}
		return nil
	case elemFP64:
		f, ok := parseFloat64(lit)
		if !ok {
			return fieldErr(d.path(d.depth), "%s is out of range for FP64", quoteLiteral(lit))
		}
		if keep {
			binary.LittleEndian.PutUint64(d.raw[off:], math.Float64bits(f))
		}
		return nil
	}
	if !isInt {
		return fieldErr(d.path(d.depth), "%s needs an integer, got %s", d.dt, quoteLiteral(lit))
	}
	bits := uint(8 * d.size)
	neg, mag, ok := parseIntLiteral(lit)
	if d.kind == elemUint {
		if neg && mag != 0 {
			return fieldErr(d.path(d.depth), "%s needs a non-negative integer, got %s", d.dt, quoteLiteral(lit))
		}
		if max := ^uint64(0) >> (64 - bits); !ok || mag > max {
			return fieldErr(d.path(d.depth), "%s needs 0 to %d, got %s", d.dt, max, quoteLiteral(lit))
		}
	} else {
		limit := uint64(1) << (bits - 1) // -limit <= v < limit
		if !ok || (neg && mag > limit) || (!neg && mag >= limit) {
			return fieldErr(d.path(d.depth), "%s needs %d to %d, got %s", d.dt, -int64(limit-1)-1, int64(limit-1), quoteLiteral(lit))
		}
	}
	if !keep {
		return nil
	}
	v := mag
	if neg {
		v = -mag
	}
	switch d.size {
	case 1:
		d.raw[off] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(d.raw[off:], uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(d.raw[off:], uint32(v))
	default:
		binary.LittleEndian.PutUint64(d.raw[off:], v)
	}
	return nil
}

// wrongType reports an element starting with c that is not what the datatype needs (want).
func (d *dataParser) wrongType(c byte, want string) error {
	if err := d.p.skip(d.depth); err != nil {
		return fieldErr(d.path(d.depth), "%s", err)
	}
	return fieldErr(d.path(d.depth), "%s needs %s, got %s", d.dt, want, kindOf(c))
}
