package tritonclient

import (
	"bytes"
	"errors"
	"testing"
)

// bytesFuzzSeeds are well-formed and malformed BYTES payloads shared by the fuzz targets.
func bytesFuzzSeeds() [][]byte {
	return [][]byte{
		nil,
		{0, 0, 0, 0},
		EncodeBytes([][]byte{[]byte("hello")}),
		EncodeBytes([][]byte{[]byte("a"), nil, []byte("tritón")}),
		EncodeBytes([][]byte{{0, 0, 0, 0}, {1, 0, 0, 0, 'x'}}),
		{1, 0, 0},
		{1, 0, 0, 0, 'a', 2},
		{5, 0, 0, 0, 'a'},
		{0xff, 0xff, 0xff, 0xff},
		{0xff, 0xff, 0xff, 0x7f, 'z'},
	}
}

func FuzzDecodeBytes(f *testing.F) {
	for _, seed := range bytesFuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		input := bytes.Clone(raw)
		elems, err := DecodeBytes(raw)
		if !bytes.Equal(raw, input) {
			t.Fatalf("DecodeBytes modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidTensor) {
				t.Fatalf("DecodeBytes error %v does not wrap ErrInvalidTensor", err)
			}
			if elems != nil {
				t.Fatalf("DecodeBytes returned %d elements with an error", len(elems))
			}
			return
		}
		if got := EncodeBytes(elems); !bytes.Equal(got, raw) {
			t.Fatalf("EncodeBytes(DecodeBytes(%x)) = %x", raw, got)
		}
		tensor := Tensor{Name: "s", DataType: Bytes, Shape: []int64{int64(len(elems))}, Raw: raw}
		if err := tensor.Validate(); err != nil {
			t.Fatalf("Validate of a decodable payload: %v", err)
		}
	})
}

func FuzzBytesValues(f *testing.F) {
	for _, seed := range bytesFuzzSeeds() {
		f.Add(seed, int64(1))
		f.Add(seed, int64(0))
	}
	f.Add([]byte{}, int64(-1))
	f.Add([]byte{0, 0, 0, 0}, int64(1<<62))
	f.Fuzz(func(t *testing.T, raw []byte, n int64) {
		tensor := Tensor{Name: "s", DataType: Bytes, Shape: []int64{n}, Raw: raw}
		got, err := tensor.BytesValues()
		if (err == nil) != (tensor.Validate() == nil) {
			t.Fatalf("BytesValues error %v disagrees with Validate", err)
		}
		decoded, decErr := DecodeBytes(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidTensor) {
				t.Fatalf("BytesValues error %v does not wrap ErrInvalidTensor", err)
			}
			if decErr == nil && int64(len(decoded)) == n {
				t.Fatalf("BytesValues failed (%v) but DecodeBytes found %d elements", err, n)
			}
			return
		}
		if int64(len(got)) != n {
			t.Fatalf("BytesValues returned %d elements, shape says %d", len(got), n)
		}
		if decErr != nil || len(decoded) != len(got) {
			t.Fatalf("DecodeBytes = %d elements, %v; BytesValues found %d", len(decoded), decErr, len(got))
		}
	})
}
