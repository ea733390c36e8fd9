package v2http

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/batonhq/baton/tritonclient"
)

// Response is what a model (pipeline) returns.
type Response struct {
	// ModelName and ModelVersion name the model that answered; both are always rendered.
	ModelName, ModelVersion string
	// ID is the request id to echo; when "" the request's ID is used.
	ID string
	// Parameters are response-level parameters: bool, string, any Go integer or float type (NaN and ±Inf are not allowed); nil or empty renders none.
	Parameters map[string]any
	// Outputs are the output tensors, rendered in this order. Choosing and
	// ordering them (e.g. to honour the request's outputs) is the caller's job.
	Outputs []tritonclient.Tensor
}

// EncodeResponse renders resp for the request req, which says which outputs
// go as binary data (req may be nil: every output then goes as JSON). It
// returns the body and the JSON header length, or -1 when the body is pure
// JSON: with headerLen >= 0 the caller sets Inference-Header-Content-Length
// to it and Content-Type application/octet-stream; with -1, Content-Type
// application/json.
//
// An output goes as binary data when the request's output entry of that
// name sets binary_data: true, or when it does not say and the request sets
// binary_data_output. An output that JSON cannot carry losslessly goes as
// binary data whatever was asked, as Triton does for FP16: FP16 and BF16
// tensors, FP32/FP64 tensors holding NaN or ±Inf, and BYTES tensors with an
// element that is not valid UTF-8. Clients tell the two apart by the
// output's binary_data_size parameter, which the protocol requires them to
// honour.
//
// Errors are server-side mistakes, not ErrBadRequest: an output that fails
// Validate (wrapping tritonclient.ErrInvalidTensor) or a parameter of an
// unsupported type.
func EncodeResponse(resp *Response, req *Request) (body []byte, headerLen int, err error) {
	if resp == nil {
		return nil, 0, errors.New("v2http: nil response")
	}
	id := resp.ID
	if id == "" && req != nil {
		id = req.ID
	}
	size := 64 + len(resp.ModelName) + len(resp.ModelVersion) + len(id)
	for i, o := range resp.Outputs {
		if err := o.Validate(); err != nil {
			return nil, 0, fmt.Errorf("v2http: response outputs[%d]: %w", i, err)
		}
		size += 96 + len(o.Name) + 21*len(o.Shape)
		if wantBinary(o, req) {
			size += len(o.Raw)
		} else {
			size += estimateJSON(o)
		}
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"model_name":`...)
	buf = appendQuoted(buf, resp.ModelName)
	buf = append(buf, `,"model_version":`...)
	buf = appendQuoted(buf, resp.ModelVersion)
	if id != "" {
		buf = append(buf, `,"id":`...)
		buf = appendQuoted(buf, id)
	}
	if len(resp.Parameters) > 0 {
		buf = append(buf, `,"parameters":`...)
		if buf, err = appendParameters(buf, resp.Parameters); err != nil {
			return nil, 0, err
		}
	}
	buf = append(buf, `,"outputs":[`...)
	// binary marks the outputs sent as binary data; most responses have few outputs.
	var small [16]bool
	binary := small[:0]
	if len(resp.Outputs) > len(small) {
		binary = make([]bool, 0, len(resp.Outputs))
	}
	anyBinary := false
	for i, o := range resp.Outputs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = appendQuoted(buf, o.Name)
		buf = append(buf, `,"datatype":`...)
		buf = appendQuoted(buf, string(o.DataType))
		buf = append(buf, `,"shape":[`...)
		for j, dim := range o.Shape {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, dim, 10)
		}
		buf = append(buf, ']')
		bin := wantBinary(o, req)
		if !bin {
			mark := len(buf)
			buf = append(buf, `,"data":[`...)
			var ok bool
			if buf, ok = appendData(buf, o); ok {
				buf = append(buf, ']')
			} else {
				buf, bin = buf[:mark], true
			}
		}
		if bin {
			buf = append(buf, `,"parameters":{"binary_data_size":`...)
			buf = strconv.AppendInt(buf, int64(len(o.Raw)), 10)
			buf = append(buf, '}')
			anyBinary = true
		}
		buf = append(buf, '}')
		binary = append(binary, bin)
	}
	buf = append(buf, "]}"...)
	if !anyBinary {
		return buf, -1, nil
	}
	headerLen = len(buf)
	for i, o := range resp.Outputs {
		if binary[i] {
			buf = append(buf, o.Raw...)
		}
	}
	return buf, headerLen, nil
}

// wantBinary reports whether output o goes as binary data for req, before checking that JSON can carry it.
func wantBinary(o tritonclient.Tensor, req *Request) bool {
	if o.DataType == tritonclient.FP16 || o.DataType == tritonclient.BF16 {
		return true
	}
	if req == nil {
		return false
	}
	for _, r := range req.Outputs {
		if r.Name == o.Name && r.Binary != nil {
			return *r.Binary
		}
	}
	return req.BinaryDataOutput
}

// estimateJSON guesses how many bytes o's data takes as JSON, to size the buffer.
func estimateJSON(o tritonclient.Tensor) int {
	switch o.DataType {
	case tritonclient.Bool:
		return 6 * len(o.Raw)
	case tritonclient.Uint8, tritonclient.Int8:
		return 5 * len(o.Raw)
	case tritonclient.FP32:
		return 4 * len(o.Raw) // up to 15 characters and a comma per 4 bytes
	case tritonclient.Bytes:
		return len(o.Raw) + len(o.Raw)/8 + 16
	default:
		return 3 * len(o.Raw)
	}
}

// appendData appends o's elements as the contents of a flat JSON array; ok
// is false (and buf holds partial output) when JSON cannot carry them
// losslessly: NaN or ±Inf floats, non-UTF-8 strings, half-precision floats.
// o must have passed Validate.
func appendData(buf []byte, o tritonclient.Tensor) (_ []byte, ok bool) {
	raw := o.Raw
	switch o.DataType {
	case tritonclient.Bool:
		for i, b := range raw {
			if i > 0 {
				buf = append(buf, ',')
			}
			if b != 0 {
				buf = append(buf, "true"...)
			} else {
				buf = append(buf, "false"...)
			}
		}
	case tritonclient.Uint8:
		for i, b := range raw {
			buf = appendSep(buf, i)
			buf = strconv.AppendUint(buf, uint64(b), 10)
		}
	case tritonclient.Int8:
		for i, b := range raw {
			buf = appendSep(buf, i)
			buf = strconv.AppendInt(buf, int64(int8(b)), 10)
		}
	case tritonclient.Uint16:
		for i := 0; i < len(raw); i += 2 {
			buf = appendSep(buf, i)
			buf = strconv.AppendUint(buf, uint64(binary.LittleEndian.Uint16(raw[i:])), 10)
		}
	case tritonclient.Int16:
		for i := 0; i < len(raw); i += 2 {
			buf = appendSep(buf, i)
			buf = strconv.AppendInt(buf, int64(int16(binary.LittleEndian.Uint16(raw[i:]))), 10)
		}
	case tritonclient.Uint32:
		for i := 0; i < len(raw); i += 4 {
			buf = appendSep(buf, i)
			buf = strconv.AppendUint(buf, uint64(binary.LittleEndian.Uint32(raw[i:])), 10)
		}
	case tritonclient.Int32:
		for i := 0; i < len(raw); i += 4 {
			buf = appendSep(buf, i)
			buf = strconv.AppendInt(buf, int64(int32(binary.LittleEndian.Uint32(raw[i:]))), 10)
		}
	case tritonclient.Uint64:
		for i := 0; i < len(raw); i += 8 {
			buf = appendSep(buf, i)
			buf = strconv.AppendUint(buf, binary.LittleEndian.Uint64(raw[i:]), 10)
		}
	case tritonclient.Int64:
		for i := 0; i < len(raw); i += 8 {
			buf = appendSep(buf, i)
			buf = strconv.AppendInt(buf, int64(binary.LittleEndian.Uint64(raw[i:])), 10)
		}
	case tritonclient.FP32:
		for i := 0; i < len(raw); i += 4 {
			f := math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))
			if f != f || f > math.MaxFloat32 || f < -math.MaxFloat32 {
				return buf, false
			}
			buf = appendSep(buf, i)
			buf = strconv.AppendFloat(buf, float64(f), 'g', -1, 32)
		}
	case tritonclient.FP64:
		for i := 0; i < len(raw); i += 8 {
			f := math.Float64frombits(binary.LittleEndian.Uint64(raw[i:]))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return buf, false
			}
			buf = appendSep(buf, i)
			buf = strconv.AppendFloat(buf, f, 'g', -1, 64)
		}
	case tritonclient.Bytes:
		for off, i := 0, 0; off < len(raw); i++ {
			l := int(binary.LittleEndian.Uint32(raw[off:]))
			elem := raw[off+4 : off+4+l]
			off += 4 + l
			if !utf8.Valid(elem) {
				return buf, false
			}
			buf = appendSep(buf, i)
			buf = appendQuoted(buf, elem)
		}
	default: // FP16, BF16
		return buf, false
	}
	return buf, true
}

// appendSep appends the comma before every element but the first (i is the element's index or byte offset).
func appendSep(buf []byte, i int) []byte {
	if i > 0 {
		buf = append(buf, ',')
	}
	return buf
}

// appendQuoted appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendQuoted[S string | []byte](buf []byte, s S) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune([]byte(s[i:min(i+utf8.UTFMax, len(s))]))
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i++
			start = i
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendParameters appends params as a JSON object with sorted keys.
func appendParameters(buf []byte, params map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendQuoted(buf, k)
		buf = append(buf, ':')
		var err error
		if buf, err = appendParamValue(buf, params[k]); err != nil {
			return nil, fmt.Errorf("v2http: response parameter %q: %w", k, err)
		}
	}
	return append(buf, '}'), nil
}

// appendParamValue appends one parameter value as JSON.
func appendParamValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case bool:
		return strconv.AppendBool(buf, v), nil
	case string:
		return appendQuoted(buf, v), nil
	case int:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(buf, v, 10), nil
	case uint:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(buf, v, 10), nil
	case float32:
		return appendFloatParam(buf, float64(v), 32)
	case float64:
		return appendFloatParam(buf, v, 64)
	default:
		return nil, fmt.Errorf("unsupported type %T (want bool, string, integer or float)", v)
	}
}

// appendFloatParam appends a float parameter so that it reads back as a float: integral values get a ".0".
func appendFloatParam(buf []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v cannot be sent as JSON", f)
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'g', -1, bits)
	for _, c := range buf[start:] {
		if c == '.' || c == 'e' {
			return buf, nil
		}
	}
	return append(buf, ".0"...), nil
}

// ErrorBody renders {"error": msg} JSON.
func ErrorBody(msg string) []byte {
	buf := make([]byte, 0, len(msg)+16)
	buf = append(buf, `{"error":`...)
	buf = appendQuoted(buf, msg)
	return append(buf, '}')
}
