package tritonclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// DataType is a Triton tensor datatype as spelled on the wire, e.g. "FP32".
type DataType string

// Triton tensor datatypes as spelled on the wire.
const (
	// Bool is a boolean stored as one byte per element (0 or 1).
	Bool DataType = "BOOL"
	// Uint8 is an unsigned 8-bit integer (1 byte per element).
	Uint8 DataType = "UINT8"
	// Uint16 is an unsigned 16-bit integer (2 bytes per element).
	Uint16 DataType = "UINT16"
	// Uint32 is an unsigned 32-bit integer (4 bytes per element).
	Uint32 DataType = "UINT32"
	// Uint64 is an unsigned 64-bit integer (8 bytes per element).
	Uint64 DataType = "UINT64"
	// Int8 is a signed 8-bit integer (1 byte per element).
	Int8 DataType = "INT8"
	// Int16 is a signed 16-bit integer (2 bytes per element).
	Int16 DataType = "INT16"
	// Int32 is a signed 32-bit integer (4 bytes per element).
	Int32 DataType = "INT32"
	// Int64 is a signed 64-bit integer (8 bytes per element).
	Int64 DataType = "INT64"
	// FP16 is an IEEE 754 half-precision float (2 bytes per element).
	FP16 DataType = "FP16"
	// BF16 is a bfloat16, the top 16 bits of an IEEE float32 (2 bytes per element).
	BF16 DataType = "BF16"
	// FP32 is an IEEE 754 single-precision float (4 bytes per element).
	FP32 DataType = "FP32"
	// FP64 is an IEEE 754 double-precision float (8 bytes per element).
	FP64 DataType = "FP64"
	// Bytes is a variable-length byte string, each element a 4-byte little-endian length followed by its bytes.
	Bytes DataType = "BYTES"
)

// ErrInvalidTensor is wrapped by every error that reports a malformed tensor, shape or datatype.
var ErrInvalidTensor = errors.New("invalid tensor")

// ParseDataType returns the DataType spelled s (exact, upper-case wire spelling); unknown spellings give an error wrapping ErrInvalidTensor.
func ParseDataType(s string) (DataType, error) {
	d := DataType(s)
	if !d.isKnown() {
		return "", fmt.Errorf("%w: unknown datatype %q", ErrInvalidTensor, s)
	}
	return d, nil
}

// ElementSize returns the size of one element in bytes; it is 0 for BYTES (variable length) and for unknown datatypes.
func (d DataType) ElementSize() int {
	switch d {
	case Bool, Uint8, Int8:
		return 1
	case Uint16, Int16, FP16, BF16:
		return 2
	case Uint32, Int32, FP32:
		return 4
	case Uint64, Int64, FP64:
		return 8
	default:
		return 0
	}
}

// isKnown reports whether d is one of the Triton datatypes.
func (d DataType) isKnown() bool {
	return d == Bytes || d.ElementSize() > 0
}

// Numeric is the set of Go element types that map one-to-one onto a fixed-size Triton datatype.
type Numeric interface {
	bool | uint8 | uint16 | uint32 | uint64 | int8 | int16 | int32 | int64 | float32 | float64
}

// dataTypeOf returns the Triton datatype that stores elements of type T.
func dataTypeOf[T Numeric]() DataType {
	var zero T
	switch any(zero).(type) {
	case bool:
		return Bool
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case float32:
		return FP32
	default: // float64
		return FP64
	}
}

// Tensor is a named tensor whose contents are raw little-endian row-major bytes as on the wire.
type Tensor struct {
	// Name is the input or output name the model declares.
	Name string
	// DataType is the element datatype.
	DataType DataType
	// Shape is the size of each dimension in elements; an empty shape is a scalar of one element.
	Shape []int64
	// Raw is the flat, row-major, little-endian contents (length-prefixed elements for BYTES).
	Raw []byte
}

// ElementCount returns the number of elements in shape (the product of its dimensions, 1 for an empty shape); negative dimensions and int64 overflow give an error wrapping ErrInvalidTensor.
func ElementCount(shape []int64) (int64, error) {
	n, err := elementCount(shape)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalidTensor, err)
	}
	return n, nil
}

// elementCount is ElementCount with an unwrapped error, so callers can add the tensor name.
func elementCount(shape []int64) (int64, error) {
	zero := false
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has negative dimension %d at index %d", shape, d, i)
		}
		if d == 0 {
			zero = true
		}
	}
	if zero {
		return 0, nil
	}
	n := int64(1)
	for _, d := range shape {
		if n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v element count overflows int64", shape)
		}
		n *= d
	}
	return n, nil
}

// tensorErrorf returns an error wrapping ErrInvalidTensor that names the tensor.
func tensorErrorf(name, format string, args ...any) error {
	return fmt.Errorf("%w: tensor %q: %s", ErrInvalidTensor, name, fmt.Sprintf(format, args...))
}

// tensorHeader checks the name, datatype and shape of a tensor and returns its element count.
func tensorHeader(name string, dt DataType, shape []int64) (int64, error) {
	if name == "" {
		return 0, fmt.Errorf("%w: empty name", ErrInvalidTensor)
	}
	if !dt.isKnown() {
		return 0, tensorErrorf(name, "unknown datatype %q", string(dt))
	}
	n, err := elementCount(shape)
	if err != nil {
		return 0, tensorErrorf(name, "%v", err)
	}
	return n, nil
}

// fixedSize returns the byte size of n elements of the fixed-size datatype dt, or an error if it overflows.
func fixedSize(name string, dt DataType, shape []int64, n int64) (int64, error) {
	size := int64(dt.ElementSize())
	if n > math.MaxInt64/size || n*size > math.MaxInt {
		return 0, tensorErrorf(name, "%s shape %v is too large (%d elements)", dt, shape, n)
	}
	return n * size, nil
}

// Validate checks that the tensor has a name, a known datatype, no negative dimensions and exactly the bytes its shape needs; errors wrap ErrInvalidTensor and name the tensor.
func (t Tensor) Validate() error {
	_, err := t.checkContents()
	return err
}

// checkContents is Validate that also returns the element count.
func (t Tensor) checkContents() (int64, error) {
	n, err := tensorHeader(t.Name, t.DataType, t.Shape)
	if err != nil {
		return 0, err
	}
	if t.DataType == Bytes {
		return n, t.checkBytes(n)
	}
	want, err := fixedSize(t.Name, t.DataType, t.Shape, n)
	if err != nil {
		return 0, err
	}
	if got := int64(len(t.Raw)); got != want {
		return 0, tensorErrorf(t.Name, "%s shape %v needs %d bytes, got %d", t.DataType, t.Shape, want, got)
	}
	return n, nil
}

// checkBytes checks that Raw holds exactly n length-prefixed elements.
func (t Tensor) checkBytes(n int64) error {
	off := 0
	for i := int64(0); i < n; i++ {
		if off == len(t.Raw) {
			return tensorErrorf(t.Name, "BYTES shape %v needs %d elements, got %d", t.Shape, n, i)
		}
		next, err := nextBytesElement(t.Raw, off, i)
		if err != nil {
			return tensorErrorf(t.Name, "BYTES shape %v: %v", t.Shape, err)
		}
		off = next
	}
	switch {
	case off == len(t.Raw):
		return nil
	case n == 0:
		return tensorErrorf(t.Name, "BYTES shape %v needs 0 bytes, got %d", t.Shape, len(t.Raw))
	default:
		return tensorErrorf(t.Name, "BYTES shape %v has %d extra bytes at offset %d after the last element", t.Shape, len(t.Raw)-off, off)
	}
}

// nextBytesElement checks the BYTES element i whose length prefix starts at off and returns the offset just past it.
func nextBytesElement(raw []byte, off int, i int64) (int, error) {
	rest := len(raw) - off
	if rest < 4 {
		return 0, fmt.Errorf("element %d at offset %d: truncated length prefix (%d of 4 bytes)", i, off, rest)
	}
	l := uint64(binary.LittleEndian.Uint32(raw[off:]))
	if l > uint64(rest-4) {
		return 0, fmt.Errorf("element %d at offset %d: length %d runs past the end (%d of %d bytes present)", i, off, l, rest-4, l)
	}
	return off + 4 + int(l), nil
}

// NewTensor returns a tensor holding values in the datatype that matches T (bool→BOOL, int32→INT32, float32→FP32, ...); len(values) must equal the shape's element count.
func NewTensor[T Numeric](name string, shape []int64, values []T) (Tensor, error) {
	dt := dataTypeOf[T]()
	if err := checkValues(name, dt, shape, len(values)); err != nil {
		return Tensor{}, err
	}
	raw := make([]byte, 0, len(values)*dt.ElementSize())
	switch v := any(values).(type) {
	case []bool:
		for _, x := range v {
			var b byte
			if x {
				b = 1
			}
			raw = append(raw, b)
		}
	case []uint8:
		raw = append(raw, v...)
	case []uint16:
		for _, x := range v {
			raw = binary.LittleEndian.AppendUint16(raw, x)
		}
	case []uint32:
		for _, x := range v {
			raw = binary.LittleEndian.AppendUint32(raw, x)
		}
	case []uint64:
		for _, x := range v {
			raw = binary.LittleEndian.AppendUint64(raw, x)
		}
	case []int8:
		for _, x := range v {
			raw = append(raw, byte(x))
		}
	case []int16:
		for _, x := range v {
			raw = binary.LittleEndian.AppendUint16(raw, uint16(x))
		}
	case []int32:
		for _, x := range v {
			raw = binary.LittleEndian.AppendUint32(raw, uint32(x))
		}
	case []int64:
		for _, x := range v {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(x))
		}
	case []float32:
		for _, x := range v {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
		}
	case []float64:
		for _, x := range v {
			raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(x))
		}
	}
	return Tensor{Name: name, DataType: dt, Shape: slices.Clone(shape), Raw: raw}, nil
}

// checkValues checks the header of a tensor being built and that got values fill its shape.
func checkValues(name string, dt DataType, shape []int64, got int) error {
	n, err := tensorHeader(name, dt, shape)
	if err != nil {
		return err
	}
	if int64(got) != n {
		return tensorErrorf(name, "%s shape %v needs %d elements, got %d values", dt, shape, n, got)
	}
	return nil
}

// Values decodes the tensor's elements as T; the tensor's datatype must be the one T maps to (see NewTensor) and its bytes must match its shape. BOOL bytes other than 0 decode as true.
func Values[T Numeric](t Tensor) ([]T, error) {
	dt := dataTypeOf[T]()
	if t.DataType != dt {
		return nil, tensorErrorf(t.Name, "datatype is %s, not %s", t.DataType, dt)
	}
	n, err := t.checkContents()
	if err != nil {
		return nil, err
	}
	out := make([]T, n)
	raw := t.Raw
	switch v := any(out).(type) {
	case []bool:
		for i := range v {
			v[i] = raw[i] != 0
		}
	case []uint8:
		copy(v, raw)
	case []uint16:
		for i := range v {
			v[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
	case []uint32:
		for i := range v {
			v[i] = binary.LittleEndian.Uint32(raw[4*i:])
		}
	case []uint64:
		for i := range v {
			v[i] = binary.LittleEndian.Uint64(raw[8*i:])
		}
	case []int8:
		for i := range v {
			v[i] = int8(raw[i])
		}
	case []int16:
		for i := range v {
			v[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case []int32:
		for i := range v {
			v[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case []int64:
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case []float32:
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case []float64:
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	}
	return out, nil
}

// NewFP16 returns an FP16 tensor holding values converted to IEEE half precision with round-to-nearest-even.
func NewFP16(name string, shape []int64, values []float32) (Tensor, error) {
	return newHalf(name, FP16, shape, values, Float32ToFP16)
}

// NewBF16 returns a BF16 tensor holding values converted to bfloat16 with round-to-nearest-even.
func NewBF16(name string, shape []int64, values []float32) (Tensor, error) {
	return newHalf(name, BF16, shape, values, Float32ToBF16)
}

// newHalf builds a 16-bit float tensor using conv to encode each element.
func newHalf(name string, dt DataType, shape []int64, values []float32, conv func(float32) uint16) (Tensor, error) {
	if err := checkValues(name, dt, shape, len(values)); err != nil {
		return Tensor{}, err
	}
	raw := make([]byte, 0, 2*len(values))
	for _, x := range values {
		raw = binary.LittleEndian.AppendUint16(raw, conv(x))
	}
	return Tensor{Name: name, DataType: dt, Shape: slices.Clone(shape), Raw: raw}, nil
}

// FP16Values decodes an FP16 tensor's elements to float32 (exactly; every half value is a float32).
func (t Tensor) FP16Values() ([]float32, error) {
	return t.halfValues(FP16, FP16ToFloat32)
}

// BF16Values decodes a BF16 tensor's elements to float32 (exactly; every bfloat16 value is a float32).
func (t Tensor) BF16Values() ([]float32, error) {
	return t.halfValues(BF16, BF16ToFloat32)
}

// halfValues decodes a 16-bit float tensor of datatype dt using conv.
func (t Tensor) halfValues(dt DataType, conv func(uint16) float32) ([]float32, error) {
	if t.DataType != dt {
		return nil, tensorErrorf(t.Name, "datatype is %s, not %s", t.DataType, dt)
	}
	n, err := t.checkContents()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = conv(binary.LittleEndian.Uint16(t.Raw[2*i:]))
	}
	return out, nil
}

// NewBytes returns a BYTES tensor holding values; each element must be shorter than 4 GiB.
func NewBytes(name string, shape []int64, values [][]byte) (Tensor, error) {
	return newBytes(name, shape, values)
}

// NewStrings returns a BYTES tensor holding the bytes of each string; each element must be shorter than 4 GiB.
func NewStrings(name string, shape []int64, values []string) (Tensor, error) {
	return newBytes(name, shape, values)
}

// newBytes builds a BYTES tensor from byte slices or strings.
func newBytes[E []byte | string](name string, shape []int64, values []E) (Tensor, error) {
	if err := checkValues(name, Bytes, shape, len(values)); err != nil {
		return Tensor{}, err
	}
	for i, v := range values {
		if uint64(len(v)) > math.MaxUint32 {
			return Tensor{}, tensorErrorf(name, "BYTES element %d is %d bytes, more than the 4-byte length prefix can hold", i, len(v))
		}
	}
	return Tensor{Name: name, DataType: Bytes, Shape: slices.Clone(shape), Raw: encodeBytes(values)}, nil
}

// EncodeBytes returns values in BYTES wire form: each element as a 4-byte little-endian length followed by its bytes; it panics if an element is 4 GiB or longer (NewBytes reports that as an error instead).
func EncodeBytes(values [][]byte) []byte {
	return encodeBytes(values)
}

// encodeBytes is EncodeBytes for byte slices or strings, with a single allocation for the output.
func encodeBytes[E []byte | string](values []E) []byte {
	size := 0
	for _, v := range values {
		if uint64(len(v)) > math.MaxUint32 {
			panic(fmt.Sprintf("tritonclient: BYTES element of %d bytes does not fit a 4-byte length prefix", len(v)))
		}
		size += 4 + len(v)
	}
	raw := make([]byte, 0, size)
	for _, v := range values {
		raw = binary.LittleEndian.AppendUint32(raw, uint32(len(v)))
		raw = append(raw, v...)
	}
	return raw
}

// DecodeBytes splits BYTES wire data into its elements, which share memory with raw (each capped so appending copies); malformed data gives an error wrapping ErrInvalidTensor naming the element and byte offset.
func DecodeBytes(raw []byte) ([][]byte, error) {
	n := 0
	for off := 0; off < len(raw); n++ {
		next, err := nextBytesElement(raw, off, int64(n))
		if err != nil {
			return nil, fmt.Errorf("%w: BYTES %v", ErrInvalidTensor, err)
		}
		off = next
	}
	return splitBytes(raw, n), nil
}

// splitBytes splits raw, already checked to hold n well-formed BYTES elements and nothing else, into those elements.
func splitBytes(raw []byte, n int) [][]byte {
	out := make([][]byte, n)
	off := 0
	for i := range out {
		l := int(binary.LittleEndian.Uint32(raw[off:]))
		off += 4
		out[i] = raw[off : off+l : off+l]
		off += l
	}
	return out
}

// BytesValues decodes a BYTES tensor's elements, which share memory with t.Raw; the element count must match the shape and errors wrap ErrInvalidTensor naming the element and byte offset.
func (t Tensor) BytesValues() ([][]byte, error) {
	if t.DataType != Bytes {
		return nil, tensorErrorf(t.Name, "datatype is %s, not %s", t.DataType, Bytes)
	}
	n, err := t.checkContents()
	if err != nil {
		return nil, err
	}
	return splitBytes(t.Raw, int(n)), nil
}

// Float32ToFP16 converts f to IEEE half-precision bits with round-to-nearest-even; values too large become ±Inf, too small become subnormals or ±0, and NaN stays a (quiet) NaN.
func Float32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7c00 | 0x0200 | uint16(mant>>13)
	}
	e := exp - 127 + 15
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e < -10:
		// Below half the smallest subnormal (2^-25): rounds to zero.
		return sign
	case e <= 0:
		// Half subnormal: count units of 2^-24, including the implicit leading bit.
		m := mant | 0x800000
		shift := uint32(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		halfway := uint32(1) << (shift - 1)
		if rem > halfway || (rem == halfway && h&1 == 1) {
			h++ // may carry into the smallest normal, 0x0400, which is correct
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to 0x7c00 (Inf), which is correct
	}
	return sign | uint16(h)
}

// FP16ToFloat32 converts IEEE half-precision bits to float32 exactly.
func FP16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		f := float32(mant) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// Float32ToBF16 converts f to bfloat16 bits with round-to-nearest-even; values too large become ±Inf and NaN stays a (quiet) NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BF16ToFloat32 converts bfloat16 bits to float32 exactly.
func BF16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}
