package v2http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/batonhq/baton/tritonclient"
)

// This file holds test-only reference codecs built on encoding/json, so the
// hand-rolled codec is checked against an independent implementation.

// wireResponse is a v2 response header as encoding/json sees it.
type wireResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id"`
	Parameters   map[string]any `json:"parameters"`
	Outputs      []struct {
		Name       string           `json:"name"`
		Datatype   string           `json:"datatype"`
		Shape      []int64          `json:"shape"`
		Parameters map[string]int64 `json:"parameters"`
		Data       json.RawMessage  `json:"data"`
	} `json:"outputs"`
}

// decodeResponse parses an EncodeResponse body with encoding/json and
// returns the header, the output tensors and which outputs were binary.
func decodeResponse(t testing.TB, body []byte, headerLen int) (wireResponse, []tritonclient.Tensor, []bool) {
	t.Helper()
	header, bin := body, []byte(nil)
	if headerLen >= 0 {
		header, bin = body[:headerLen], body[headerLen:]
	}
	var resp wireResponse
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("response header %q is not valid: %v", header, err)
	}
	var tensors []tritonclient.Tensor
	var binary []bool
	for i, o := range resp.Outputs {
		tensor := tritonclient.Tensor{Name: o.Name, DataType: tritonclient.DataType(o.Datatype), Shape: o.Shape}
		size, isBin := o.Parameters["binary_data_size"]
		switch {
		case isBin && o.Data != nil:
			t.Fatalf("output %d has both data and binary_data_size", i)
		case isBin:
			if headerLen < 0 {
				t.Fatalf("output %d is binary but headerLen is -1", i)
			}
			if size > int64(len(bin)) {
				t.Fatalf("output %d binary_data_size %d past the %d bytes left", i, size, len(bin))
			}
			tensor.Raw, bin = bin[:size], bin[size:]
		default:
			raw, err := jsonDataToRaw(tensor.DataType, o.Data)
			if err != nil {
				t.Fatalf("output %d data %s: %v", i, o.Data, err)
			}
			tensor.Raw = raw
		}
		if err := tensor.Validate(); err != nil {
			t.Fatalf("output %d: %v", i, err)
		}
		tensors = append(tensors, tensor)
		binary = append(binary, isBin)
	}
	if len(bin) != 0 {
		t.Fatalf("%d bytes left over after the binary outputs", len(bin))
	}
	return resp, tensors, binary
}

// jsonDataToRaw converts a JSON data array (flat or nested) to raw tensor bytes using encoding/json.
func jsonDataToRaw(dt tritonclient.DataType, data json.RawMessage) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var flat []any
	var walk func(v any) error
	walk = func(v any) error {
		if a, ok := v.([]any); ok {
			for _, e := range a {
				if err := walk(e); err != nil {
					return err
				}
			}
			return nil
		}
		flat = append(flat, v)
		return nil
	}
	if _, ok := v.([]any); !ok {
		return nil, fmt.Errorf("data is not an array")
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	var raw []byte
	for _, e := range flat {
		switch dt {
		case tritonclient.Bool:
			b, ok := e.(bool)
			if !ok {
				return nil, fmt.Errorf("%v is not a bool", e)
			}
			if b {
				raw = append(raw, 1)
			} else {
				raw = append(raw, 0)
			}
		case tritonclient.Bytes:
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%v is not a string", e)
			}
			raw = append(raw, tritonclient.EncodeBytes([][]byte{[]byte(s)})...)
		default:
			n, ok := e.(json.Number)
			if !ok {
				return nil, fmt.Errorf("%v is not a number", e)
			}
			var err error
			if raw, err = appendNumber(raw, dt, string(n)); err != nil {
				return nil, err
			}
		}
	}
	return raw, nil
}

// appendNumber appends the number s as one element of dt, using strconv.
func appendNumber(raw []byte, dt tritonclient.DataType, s string) ([]byte, error) {
	size := dt.ElementSize()
	switch dt {
	case tritonclient.FP32:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return nil, err
		}
		return append(raw, le(uint64(math.Float32bits(float32(f))), 4)...), nil
	case tritonclient.FP64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		return append(raw, le(math.Float64bits(f), 8)...), nil
	case tritonclient.Uint8, tritonclient.Uint16, tritonclient.Uint32, tritonclient.Uint64:
		if s == "-0" {
			s = "0"
		}
		v, err := strconv.ParseUint(s, 10, 8*size)
		if err != nil {
			return nil, err
		}
		return append(raw, le(v, size)...), nil
	case tritonclient.Int8, tritonclient.Int16, tritonclient.Int32, tritonclient.Int64:
		v, err := strconv.ParseInt(s, 10, 8*size)
		if err != nil {
			return nil, err
		}
		return append(raw, le(uint64(v), size)...), nil
	}
	return nil, fmt.Errorf("datatype %s has no JSON numbers", dt)
}

// le returns the low size bytes of v, little-endian.
func le(v uint64, size int) []byte {
	out := make([]byte, size)
	for i := range out {
		out[i] = byte(v >> (8 * i))
	}
	return out
}

// referenceInputs decodes the JSON-data inputs of a request header with encoding/json, by name.
func referenceInputs(header []byte) (map[string]tritonclient.Tensor, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(header, &top); err != nil {
		return nil, err
	}
	var inputs []map[string]json.RawMessage
	if err := json.Unmarshal(top["inputs"], &inputs); err != nil {
		return nil, err
	}
	out := make(map[string]tritonclient.Tensor)
	for _, in := range inputs {
		data, ok := in["data"]
		if !ok || string(data) == "null" {
			continue
		}
		var t tritonclient.Tensor
		var dt string
		if err := json.Unmarshal(in["name"], &t.Name); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(in["datatype"], &dt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(in["shape"], &t.Shape); err != nil {
			return nil, err
		}
		t.DataType = tritonclient.DataType(dt)
		raw, err := jsonDataToRaw(t.DataType, data)
		if err != nil {
			return nil, err
		}
		t.Raw = raw
		out[t.Name] = t
	}
	return out, nil
}
