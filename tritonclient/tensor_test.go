package tritonclient

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var tensorDataTypes = []DataType{Bool, Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, FP16, BF16, FP32, FP64, Bytes}

func TestParseDataType(t *testing.T) {
	for _, d := range tensorDataTypes {
		got, err := ParseDataType(string(d))
		if err != nil || got != d {
			t.Errorf("ParseDataType(%q) = %q, %v; want %q, nil", d, got, err, d)
		}
	}
	tests := []struct {
		in      string
		wantErr string
	}{
		{in: "", wantErr: `invalid tensor: unknown datatype ""`},
		{in: "fp32", wantErr: `invalid tensor: unknown datatype "fp32"`},
		{in: "TYPE_FP32", wantErr: `invalid tensor: unknown datatype "TYPE_FP32"`},
		{in: "STRING", wantErr: `invalid tensor: unknown datatype "STRING"`},
		{in: "FP8", wantErr: `invalid tensor: unknown datatype "FP8"`},
	}
	for _, tt := range tests {
		got, err := ParseDataType(tt.in)
		if !errors.Is(err, ErrInvalidTensor) {
			t.Errorf("ParseDataType(%q) error = %v, want one wrapping ErrInvalidTensor", tt.in, err)
			continue
		}
		if got != "" {
			t.Errorf("ParseDataType(%q) = %q with an error, want empty", tt.in, got)
		}
		if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
			t.Errorf("ParseDataType(%q) error mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestElementSize(t *testing.T) {
	want := map[DataType]int{
		Bool: 1, Uint8: 1, Uint16: 2, Uint32: 4, Uint64: 8,
		Int8: 1, Int16: 2, Int32: 4, Int64: 8,
		FP16: 2, BF16: 2, FP32: 4, FP64: 8, Bytes: 0,
		"": 0, "FP8": 0,
	}
	got := map[DataType]int{}
	for d := range want {
		got[d] = d.ElementSize()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ElementSize mismatch (-want +got):\n%s", diff)
	}
}

func TestElementCount(t *testing.T) {
	tests := []struct {
		shape   []int64
		want    int64
		wantErr string
	}{
		{shape: nil, want: 1},
		{shape: []int64{}, want: 1},
		{shape: []int64{0}, want: 0},
		{shape: []int64{7}, want: 7},
		{shape: []int64{2, 3, 4}, want: 24},
		{shape: []int64{1 << 31, 1 << 31}, want: 1 << 62},
		{shape: []int64{math.MaxInt64, 1}, want: math.MaxInt64},
		{shape: []int64{math.MaxInt64, 2, 0}, want: 0},
		{shape: []int64{2, -1}, wantErr: "invalid tensor: shape [2 -1] has negative dimension -1 at index 1"},
		{shape: []int64{0, -3}, wantErr: "invalid tensor: shape [0 -3] has negative dimension -3 at index 1"},
		{shape: []int64{math.MaxInt64, 2}, wantErr: "invalid tensor: shape [9223372036854775807 2] element count overflows int64"},
		{shape: []int64{1 << 32, 1 << 31}, wantErr: "invalid tensor: shape [4294967296 2147483648] element count overflows int64"},
	}
	for _, tt := range tests {
		got, err := ElementCount(tt.shape)
		if tt.wantErr != "" {
			if !errors.Is(err, ErrInvalidTensor) {
				t.Errorf("ElementCount(%v) error = %v, want one wrapping ErrInvalidTensor", tt.shape, err)
				continue
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("ElementCount(%v) error mismatch (-want +got):\n%s", tt.shape, diff)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ElementCount(%v) = %d, %v; want %d, nil", tt.shape, got, err, tt.want)
		}
	}
}

// checkNumericRoundTrip builds a tensor from values, compares its datatype and raw bytes and decodes it back.
func checkNumericRoundTrip[T Numeric](t *testing.T, shape []int64, values []T, wantDT DataType, wantRaw []byte) {
	t.Helper()
	tensor, err := NewTensor("x", shape, values)
	if err != nil {
		t.Fatalf("NewTensor: %v", err)
	}
	want := Tensor{Name: "x", DataType: wantDT, Shape: shape, Raw: wantRaw}
	if diff := cmp.Diff(want, tensor); diff != "" {
		t.Errorf("NewTensor mismatch (-want +got):\n%s", diff)
	}
	if err := tensor.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	got, err := Values[T](tensor)
	if err != nil {
		t.Fatalf("Values: %v", err)
	}
	if diff := cmp.Diff(values, got); diff != "" {
		t.Errorf("Values mismatch (-want +got):\n%s", diff)
	}
}

func TestNumericRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"BOOL", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{2, 2}, []bool{true, false, false, true}, Bool, []byte{1, 0, 0, 1})
		}},
		{"UINT8", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{3}, []uint8{0, 0x7f, 0xff}, Uint8, []byte{0, 0x7f, 0xff})
		}},
		{"UINT16", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{2}, []uint16{0x0102, 0xffff}, Uint16, []byte{0x02, 0x01, 0xff, 0xff})
		}},
		{"UINT32", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{1, 2}, []uint32{0x01020304, math.MaxUint32}, Uint32, []byte{4, 3, 2, 1, 0xff, 0xff, 0xff, 0xff})
		}},
		{"UINT64", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{1}, []uint64{0x0102030405060708}, Uint64, []byte{8, 7, 6, 5, 4, 3, 2, 1})
		}},
		{"INT8", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{3}, []int8{-128, -1, 127}, Int8, []byte{0x80, 0xff, 0x7f})
		}},
		{"INT16", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{2}, []int16{-2, 0x0102}, Int16, []byte{0xfe, 0xff, 0x02, 0x01})
		}},
		{"INT32", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{2}, []int32{-1, math.MinInt32}, Int32, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x80})
		}},
		{"INT64", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{1}, []int64{-2}, Int64, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}},
		{"FP32", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{2}, []float32{1, -2.5}, FP32, []byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0})
		}},
		{"FP64", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{1}, []float64{1}, FP64, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
		}},
		{"FP32 scalar", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{}, []float32{3}, FP32, []byte{0, 0, 0x40, 0x40})
		}},
		{"INT32 zero elements", func(t *testing.T) {
			checkNumericRoundTrip(t, []int64{0, 4}, []int32{}, Int32, []byte{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestValuesBoolNonZeroIsTrue(t *testing.T) {
	got, err := Values[bool](Tensor{Name: "b", DataType: Bool, Shape: []int64{3}, Raw: []byte{0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{false, true, true}, got); diff != "" {
		t.Errorf("Values[bool] mismatch (-want +got):\n%s", diff)
	}
}

func TestNewTensorCopiesShape(t *testing.T) {
	shape := []int64{2}
	tensor, err := NewTensor("x", shape, []int32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	shape[0] = 5
	if diff := cmp.Diff([]int64{2}, tensor.Shape); diff != "" {
		t.Errorf("tensor shape changed with the caller's slice (-want +got):\n%s", diff)
	}
}

func TestHalfRoundTrip(t *testing.T) {
	values := []float32{1, -2, 0.5, 65504, float32(math.Inf(-1)), 0}
	tests := []struct {
		name    string
		new     func(string, []int64, []float32) (Tensor, error)
		values  func(Tensor) ([]float32, error)
		wantDT  DataType
		wantRaw []byte
	}{
		{
			name:    "FP16",
			new:     NewFP16,
			values:  Tensor.FP16Values,
			wantDT:  FP16,
			wantRaw: []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b, 0x00, 0xfc, 0x00, 0x00},
		},
		{
			name:    "BF16",
			new:     NewBF16,
			values:  Tensor.BF16Values,
			wantDT:  BF16,
			wantRaw: []byte{0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f, 0x80, 0x47, 0x80, 0xff, 0x00, 0x00},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tensor, err := tt.new("h", []int64{2, 3}, values)
			if err != nil {
				t.Fatal(err)
			}
			want := Tensor{Name: "h", DataType: tt.wantDT, Shape: []int64{2, 3}, Raw: tt.wantRaw}
			if diff := cmp.Diff(want, tensor); diff != "" {
				t.Errorf("constructor mismatch (-want +got):\n%s", diff)
			}
			got, err := tt.values(tensor)
			if err != nil {
				t.Fatal(err)
			}
			wantValues := values
			if tt.wantDT == BF16 {
				wantValues = []float32{1, -2, 0.5, 65536, float32(math.Inf(-1)), 0}
			}
			if diff := cmp.Diff(wantValues, got); diff != "" {
				t.Errorf("values mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBytesRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		shape   []int64
		values  []string
		wantRaw []byte
	}{
		{name: "two elements", shape: []int64{2}, values: []string{"ab", "xyz"}, wantRaw: []byte{2, 0, 0, 0, 'a', 'b', 3, 0, 0, 0, 'x', 'y', 'z'}},
		{name: "empty element", shape: []int64{3}, values: []string{"a", "", "b"}, wantRaw: []byte{1, 0, 0, 0, 'a', 0, 0, 0, 0, 1, 0, 0, 0, 'b'}},
		{name: "only empty elements", shape: []int64{1, 2}, values: []string{"", ""}, wantRaw: []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "zero elements", shape: []int64{0}, values: []string{}, wantRaw: []byte{}},
		{name: "scalar", shape: nil, values: []string{"héllo"}, wantRaw: append([]byte{6, 0, 0, 0}, "héllo"...)},
		{name: "binary with a zero byte", shape: []int64{1}, values: []string{"\x00\xff"}, wantRaw: []byte{2, 0, 0, 0, 0, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fromStrings, err := NewStrings("s", tt.shape, tt.values)
			if err != nil {
				t.Fatalf("NewStrings: %v", err)
			}
			byteValues := make([][]byte, len(tt.values))
			for i, v := range tt.values {
				byteValues[i] = []byte(v)
			}
			fromBytes, err := NewBytes("s", tt.shape, byteValues)
			if err != nil {
				t.Fatalf("NewBytes: %v", err)
			}
			want := Tensor{Name: "s", DataType: Bytes, Shape: tt.shape, Raw: tt.wantRaw}
			if diff := cmp.Diff(want, fromStrings); diff != "" {
				t.Errorf("NewStrings mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, fromBytes); diff != "" {
				t.Errorf("NewBytes mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRaw, EncodeBytes(byteValues)); diff != "" {
				t.Errorf("EncodeBytes mismatch (-want +got):\n%s", diff)
			}
			got, err := fromBytes.BytesValues()
			if err != nil {
				t.Fatalf("BytesValues: %v", err)
			}
			if diff := cmp.Diff(byteValues, got); diff != "" {
				t.Errorf("BytesValues mismatch (-want +got):\n%s", diff)
			}
			decoded, err := DecodeBytes(tt.wantRaw)
			if err != nil {
				t.Fatalf("DecodeBytes: %v", err)
			}
			if diff := cmp.Diff(byteValues, decoded); diff != "" {
				t.Errorf("DecodeBytes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeBytesElementsDoNotClobber(t *testing.T) {
	raw := EncodeBytes([][]byte{[]byte("ab"), []byte("cd")})
	got, err := DecodeBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(got[0], 'X', 'X', 'X', 'X')
	again, err := DecodeBytes(raw)
	if err != nil {
		t.Fatalf("appending to a decoded element corrupted the input: %v", err)
	}
	if diff := cmp.Diff([][]byte{[]byte("ab"), []byte("cd")}, again); diff != "" {
		t.Errorf("DecodeBytes after append mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeBytesErrors(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		wantErr string
	}{
		{name: "truncated first prefix", raw: []byte{1, 0, 0}, wantErr: "invalid tensor: BYTES element 0 at offset 0: truncated length prefix (3 of 4 bytes)"},
		{name: "truncated later prefix", raw: []byte{1, 0, 0, 0, 'a', 2}, wantErr: "invalid tensor: BYTES element 1 at offset 5: truncated length prefix (1 of 4 bytes)"},
		{name: "length past end", raw: []byte{1, 0, 0, 0, 'a', 9, 0, 0, 0, 'x'}, wantErr: "invalid tensor: BYTES element 1 at offset 5: length 9 runs past the end (1 of 9 bytes present)"},
		{name: "maximum length", raw: []byte{0xff, 0xff, 0xff, 0xff}, wantErr: "invalid tensor: BYTES element 0 at offset 0: length 4294967295 runs past the end (0 of 4294967295 bytes present)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBytes(tt.raw)
			if !errors.Is(err, ErrInvalidTensor) {
				t.Fatalf("DecodeBytes error = %v, want one wrapping ErrInvalidTensor", err)
			}
			if got != nil {
				t.Errorf("DecodeBytes returned %q with an error", got)
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("DecodeBytes error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeBytesEmpty(t *testing.T) {
	for _, raw := range [][]byte{nil, {}} {
		got, err := DecodeBytes(raw)
		if err != nil || len(got) != 0 {
			t.Errorf("DecodeBytes(%v) = %q, %v; want no elements", raw, got, err)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	bytes2 := EncodeBytes([][]byte{[]byte("ab"), []byte("c")})
	tests := []struct {
		name    string
		tensor  Tensor
		wantErr string
	}{
		{
			name:    "fixed size too short",
			tensor:  Tensor{Name: "INPUT0", DataType: FP32, Shape: []int64{2, 3}, Raw: make([]byte, 20)},
			wantErr: `invalid tensor: tensor "INPUT0": FP32 shape [2 3] needs 24 bytes, got 20`,
		},
		{
			name:    "fixed size too long",
			tensor:  Tensor{Name: "mask", DataType: Bool, Shape: []int64{3}, Raw: make([]byte, 4)},
			wantErr: `invalid tensor: tensor "mask": BOOL shape [3] needs 3 bytes, got 4`,
		},
		{
			name:    "scalar with no bytes",
			tensor:  Tensor{Name: "s", DataType: Int64},
			wantErr: `invalid tensor: tensor "s": INT64 shape [] needs 8 bytes, got 0`,
		},
		{
			name:    "empty name",
			tensor:  Tensor{DataType: FP32, Shape: []int64{1}, Raw: make([]byte, 4)},
			wantErr: `invalid tensor: empty name`,
		},
		{
			name:    "unknown datatype",
			tensor:  Tensor{Name: "x", DataType: "FP8", Shape: []int64{1}, Raw: make([]byte, 1)},
			wantErr: `invalid tensor: tensor "x": unknown datatype "FP8"`,
		},
		{
			name:    "missing datatype",
			tensor:  Tensor{Name: "x", Shape: []int64{1}},
			wantErr: `invalid tensor: tensor "x": unknown datatype ""`,
		},
		{
			name:    "negative dimension",
			tensor:  Tensor{Name: "x", DataType: FP32, Shape: []int64{-1, 3}},
			wantErr: `invalid tensor: tensor "x": shape [-1 3] has negative dimension -1 at index 0`,
		},
		{
			name:    "element count overflow",
			tensor:  Tensor{Name: "x", DataType: Uint8, Shape: []int64{1 << 40, 1 << 40}},
			wantErr: `invalid tensor: tensor "x": shape [1099511627776 1099511627776] element count overflows int64`,
		},
		{
			name:    "byte size overflow",
			tensor:  Tensor{Name: "x", DataType: FP64, Shape: []int64{1 << 61}},
			wantErr: `invalid tensor: tensor "x": FP64 shape [2305843009213693952] is too large (2305843009213693952 elements)`,
		},
		{
			name:    "bytes with too few elements",
			tensor:  Tensor{Name: "text", DataType: Bytes, Shape: []int64{3}, Raw: bytes2},
			wantErr: `invalid tensor: tensor "text": BYTES shape [3] needs 3 elements, got 2`,
		},
		{
			name:    "bytes with huge shape",
			tensor:  Tensor{Name: "text", DataType: Bytes, Shape: []int64{1 << 62}, Raw: bytes2},
			wantErr: `invalid tensor: tensor "text": BYTES shape [4611686018427387904] needs 4611686018427387904 elements, got 2`,
		},
		{
			name:    "bytes with extra bytes",
			tensor:  Tensor{Name: "text", DataType: Bytes, Shape: []int64{1}, Raw: bytes2},
			wantErr: `invalid tensor: tensor "text": BYTES shape [1] has 5 extra bytes at offset 6 after the last element`,
		},
		{
			name:    "bytes with zero elements but data",
			tensor:  Tensor{Name: "text", DataType: Bytes, Shape: []int64{0}, Raw: bytes2},
			wantErr: `invalid tensor: tensor "text": BYTES shape [0] needs 0 bytes, got 11`,
		},
		{
			name:    "bytes with truncated prefix",
			tensor:  Tensor{Name: "text", DataType: Bytes, Shape: []int64{3}, Raw: append(bytes2, 0, 0)},
			wantErr: `invalid tensor: tensor "text": BYTES shape [3]: element 2 at offset 11: truncated length prefix (2 of 4 bytes)`,
		},
		{
			name:    "bytes with length past end",
			tensor:  Tensor{Name: "text", DataType: Bytes, Shape: []int64{2}, Raw: bytes2[:10]},
			wantErr: `invalid tensor: tensor "text": BYTES shape [2]: element 1 at offset 6: length 1 runs past the end (0 of 1 bytes present)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tensor.Validate()
			if !errors.Is(err, ErrInvalidTensor) {
				t.Fatalf("Validate error = %v, want one wrapping ErrInvalidTensor", err)
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("Validate error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []Tensor{
		{Name: "x", DataType: FP32, Shape: []int64{2, 3}, Raw: make([]byte, 24)},
		{Name: "x", DataType: FP16, Shape: []int64{0, 3}},
		{Name: "x", DataType: Bytes, Shape: []int64{0}},
		{Name: "x", DataType: Bytes, Shape: []int64{2}, Raw: make([]byte, 8)},
		{Name: "x", DataType: Uint8, Raw: []byte{7}},
	}
	for _, tensor := range tests {
		if err := tensor.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", tensor, err)
		}
	}
}

func TestAccessorErrors(t *testing.T) {
	fp32 := Tensor{Name: "f", DataType: FP32, Shape: []int64{1}, Raw: make([]byte, 4)}
	short := Tensor{Name: "f", DataType: FP32, Shape: []int64{2}, Raw: make([]byte, 4)}
	tests := []struct {
		name    string
		call    func() error
		wantErr string
	}{
		{"Values wrong type", func() error { _, err := Values[int32](fp32); return err }, `invalid tensor: tensor "f": datatype is FP32, not INT32`},
		{"Values FP16 as float32", func() error {
			_, err := Values[float32](Tensor{Name: "h", DataType: FP16, Shape: []int64{1}, Raw: make([]byte, 2)})
			return err
		}, `invalid tensor: tensor "h": datatype is FP16, not FP32`},
		{"Values short raw", func() error { _, err := Values[float32](short); return err }, `invalid tensor: tensor "f": FP32 shape [2] needs 8 bytes, got 4`},
		{"FP16Values wrong type", func() error { _, err := fp32.FP16Values(); return err }, `invalid tensor: tensor "f": datatype is FP32, not FP16`},
		{"BF16Values wrong type", func() error { _, err := fp32.BF16Values(); return err }, `invalid tensor: tensor "f": datatype is FP32, not BF16`},
		{"BF16Values short raw", func() error {
			_, err := Tensor{Name: "b", DataType: BF16, Shape: []int64{2}, Raw: make([]byte, 3)}.BF16Values()
			return err
		}, `invalid tensor: tensor "b": BF16 shape [2] needs 4 bytes, got 3`},
		{"BytesValues wrong type", func() error { _, err := fp32.BytesValues(); return err }, `invalid tensor: tensor "f": datatype is FP32, not BYTES`},
		{"BytesValues length past end", func() error {
			_, err := Tensor{Name: "s", DataType: Bytes, Shape: []int64{1}, Raw: []byte{5, 0, 0, 0, 'a'}}.BytesValues()
			return err
		}, `invalid tensor: tensor "s": BYTES shape [1]: element 0 at offset 0: length 5 runs past the end (1 of 5 bytes present)`},
		{"NewTensor too few values", func() error { _, err := NewTensor("x", []int64{2, 2}, []float32{1, 2, 3}); return err }, `invalid tensor: tensor "x": FP32 shape [2 2] needs 4 elements, got 3 values`},
		{"NewTensor empty name", func() error { _, err := NewTensor("", []int64{1}, []int8{1}); return err }, `invalid tensor: empty name`},
		{"NewTensor negative shape", func() error { _, err := NewTensor("x", []int64{-1}, []bool{}); return err }, `invalid tensor: tensor "x": shape [-1] has negative dimension -1 at index 0`},
		{"NewFP16 too many values", func() error { _, err := NewFP16("x", []int64{1}, []float32{1, 2}); return err }, `invalid tensor: tensor "x": FP16 shape [1] needs 1 elements, got 2 values`},
		{"NewBF16 too few values", func() error { _, err := NewBF16("x", []int64{3}, nil); return err }, `invalid tensor: tensor "x": BF16 shape [3] needs 3 elements, got 0 values`},
		{"NewBytes too few values", func() error { _, err := NewBytes("x", []int64{2}, [][]byte{nil}); return err }, `invalid tensor: tensor "x": BYTES shape [2] needs 2 elements, got 1 values`},
		{"NewStrings empty name", func() error { _, err := NewStrings("", []int64{1}, []string{"a"}); return err }, `invalid tensor: empty name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, ErrInvalidTensor) {
				t.Fatalf("error = %v, want one wrapping ErrInvalidTensor", err)
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodingAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs only")
	}
	values := make([]float32, 1024)
	strs := []string{"alpha", "beta", "", "gamma"}
	strShape := []int64{4}
	elems := [][]byte{[]byte("alpha"), []byte("beta"), nil}
	shape := []int64{1024}
	tests := []struct {
		name string
		max  float64
		fn   func()
	}{
		{"NewTensor", 2, func() { _, _ = NewTensor("x", shape, values) }}, // raw bytes + shape copy
		{"NewFP16", 2, func() { _, _ = NewFP16("x", shape, values) }},
		{"NewStrings", 2, func() { _, _ = NewStrings("x", strShape, strs) }},
		{"EncodeBytes", 1, func() { _ = EncodeBytes(elems) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(20, tt.fn); got > tt.max {
			t.Errorf("%s allocates %v times, want at most %v", tt.name, got, tt.max)
		}
	}
}

func TestFloat32ToFP16(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"max finite", 65504, 0x7bff},
		{"just below overflow midpoint", 65519.996, 0x7bff},
		{"overflow midpoint rounds to inf", 65520, 0x7c00},
		{"large overflows to inf", 1e6, 0x7c00},
		{"large negative overflows to -inf", -1e6, 0xfc00},
		{"max float32", math.MaxFloat32, 0x7c00},
		{"+inf", float32(math.Inf(1)), 0x7c00},
		{"-inf", float32(math.Inf(-1)), 0xfc00},
		{"nan", float32(math.NaN()), 0x7e00},
		{"smallest subnormal", 0x1p-24, 0x0001},
		{"half smallest subnormal ties to zero", 0x1p-25, 0x0000},
		{"just above half smallest subnormal", 0x1.000002p-25, 0x0001},
		{"three quarters of smallest subnormal", 0x1.8p-25, 0x0001},
		{"negative smallest subnormal", -0x1p-24, 0x8001},
		{"largest subnormal", 0x1p-14 - 0x1p-24, 0x03ff},
		{"subnormal-normal midpoint ties to even", 0x1p-14 - 0x1p-25, 0x0400},
		{"smallest normal", 0x1p-14, 0x0400},
		{"float32 subnormal flushes to zero", math.SmallestNonzeroFloat32, 0x0000},
		{"tiny negative keeps sign", -1e-10, 0x8000},
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"0.1", 0.1, 0x2e66},
		{"one third", 1.0 / 3, 0x3555},
		{"pi", math.Pi, 0x4248},
		{"tie rounds down to even", 1 + 0x1p-11, 0x3c00},
		{"tie rounds up to even", 1 + 3*0x1p-11, 0x3c02},
		{"above tie rounds up", 1 + 0x1p-11 + 0x1p-20, 0x3c01},
		{"subnormal tie rounds up to even", 0x1.8p-24, 0x0002},
		{"subnormal tie rounds down to even", 0x1.4p-23, 0x0002},
	}
	for _, tt := range tests {
		if got := Float32ToFP16(tt.in); got != tt.want {
			t.Errorf("%s: Float32ToFP16(%g) = %#04x, want %#04x", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestFP16ToFloat32(t *testing.T) {
	tests := []struct {
		in   uint16
		want float32
	}{
		{0x3c00, 1},
		{0xc000, -2},
		{0x7bff, 65504},
		{0x0001, 0x1p-24},
		{0x8001, -0x1p-24},
		{0x03ff, 0x1p-14 - 0x1p-24},
		{0x0400, 0x1p-14},
		{0x3555, 0.333251953125},
		{0x0000, 0},
		{0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
	}
	for _, tt := range tests {
		if got := FP16ToFloat32(tt.in); got != tt.want {
			t.Errorf("FP16ToFloat32(%#04x) = %g, want %g", tt.in, got, tt.want)
		}
	}
	if got := FP16ToFloat32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("FP16ToFloat32(0x8000) = %g, want -0", got)
	}
	for _, h := range []uint16{0x7c01, 0x7e00, 0xfe00, 0x7fff} {
		if got := FP16ToFloat32(h); !math.IsNaN(float64(got)) {
			t.Errorf("FP16ToFloat32(%#04x) = %g, want NaN", h, got)
		}
	}
}

func TestFloat32ToBF16(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3f80},
		{"minus two", -2, 0xc000},
		{"pi", math.Pi, 0x4049},
		{"0.1", 0.1, 0x3dcd},
		{"+inf", float32(math.Inf(1)), 0x7f80},
		{"-inf", float32(math.Inf(-1)), 0xff80},
		{"max float32 rounds to inf", math.MaxFloat32, 0x7f80},
		{"max bf16", math.Float32frombits(0x7f7f0000), 0x7f7f},
		{"nan", float32(math.NaN()), 0x7fc0},
		{"nan with only low payload bits stays nan", math.Float32frombits(0x7f800001), 0x7fc0},
		{"negative nan", math.Float32frombits(0xffc00000), 0xffc0},
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"tie rounds down to even", 1 + 0x1p-8, 0x3f80},
		{"tie rounds up to even", 1 + 3*0x1p-8, 0x3f82},
		{"above tie rounds up", 1 + 0x1p-8 + 0x1p-20, 0x3f81},
		{"float32 smallest subnormal", math.SmallestNonzeroFloat32, 0x0000},
		{"subnormal tie to even", math.Float32frombits(0x00018000), 0x0002},
	}
	for _, tt := range tests {
		if got := Float32ToBF16(tt.in); got != tt.want {
			t.Errorf("%s: Float32ToBF16(%g) = %#04x, want %#04x", tt.name, tt.in, got, tt.want)
		}
	}
	if got := BF16ToFloat32(0x3f80); got != 1 {
		t.Errorf("BF16ToFloat32(0x3f80) = %g, want 1", got)
	}
	if got := BF16ToFloat32(0xc049); got != -3.140625 {
		t.Errorf("BF16ToFloat32(0xc049) = %g, want -3.140625", got)
	}
}

func isFP16NaN(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x03ff != 0 }
func isBF16NaN(h uint16) bool { return h&0x7f80 == 0x7f80 && h&0x007f != 0 }

func TestHalfExhaustiveRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		toF32   func(uint16) float32
		fromF32 func(float32) uint16
		isNaN   func(uint16) bool
	}{
		{"FP16", FP16ToFloat32, Float32ToFP16, isFP16NaN},
		{"BF16", BF16ToFloat32, Float32ToBF16, isBF16NaN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nans := 0
			for i := range 1 << 16 {
				h := uint16(i)
				f := tt.toF32(h)
				back := tt.fromF32(f)
				if tt.isNaN(h) {
					nans++
					if !math.IsNaN(float64(f)) || !tt.isNaN(back) {
						t.Errorf("NaN %#04x -> %g -> %#04x, want NaN throughout", h, f, back)
					}
					continue
				}
				if back != h {
					t.Errorf("%#04x -> %g -> %#04x, want %#04x", h, f, back, h)
				}
			}
			if nans == 0 {
				t.Error("no NaN patterns seen")
			}
		})
	}
}

// TestHalfRoundsToNearestEven checks every midpoint between adjacent finite half values, and the float32s either side of it.
func TestHalfRoundsToNearestEven(t *testing.T) {
	tests := []struct {
		name     string
		toF32    func(uint16) float32
		fromF32  func(float32) uint16
		maxBits  uint16  // largest finite positive pattern
		infValue float64 // the value the pattern after maxBits would have with an unbounded exponent
	}{
		{"FP16", FP16ToFloat32, Float32ToFP16, 0x7bff, 65536},
		{"BF16", BF16ToFloat32, Float32ToBF16, 0x7f7f, 0x1p128},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for h := uint16(0); h <= tt.maxBits; h++ {
				lo := float64(tt.toF32(h))
				hi := tt.infValue
				if h < tt.maxBits {
					hi = float64(tt.toF32(h + 1))
				}
				mid64 := (lo + hi) / 2
				mid := float32(mid64)
				if float64(mid) != mid64 {
					t.Fatalf("midpoint %g after %#04x is not a float32", mid64, h)
				}
				even := h
				if h&1 == 1 {
					even = h + 1
				}
				cases := []struct {
					in   float32
					want uint16
				}{
					{mid, even},
					{math.Nextafter32(mid, 0), h},
					{math.Nextafter32(mid, float32(math.Inf(1))), h + 1},
				}
				for _, c := range cases {
					if got := tt.fromF32(c.in); got != c.want {
						t.Errorf("from %g (between %#04x and %#04x) = %#04x, want %#04x", c.in, h, h+1, got, c.want)
					}
					if got := tt.fromF32(-c.in); got != 0x8000|c.want {
						t.Errorf("from %g = %#04x, want %#04x", -c.in, got, 0x8000|c.want)
					}
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}

func TestErrorStringsAreLowercase(t *testing.T) {
	for _, err := range []error{ErrInvalidTensor, ErrBadMetrics} {
		if s := err.Error(); s != strings.ToLower(s[:1])+s[1:] {
			t.Errorf("error %q starts with a capital", s)
		}
	}
}
