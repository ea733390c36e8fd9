package v2http

import (
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/batonhq/baton/tritonclient"
)

// InferenceHeaderContentLength is the HTTP header that gives the length of the JSON header when a body carries binary tensor data.
const InferenceHeaderContentLength = "Inference-Header-Content-Length"

// Request is a decoded v2 inference request.
type Request struct {
	// ID is the request's "id", echoed in the response; "" when absent.
	ID string
	// Parameters are the request-level parameters, each a bool, int64,
	// float64 or string (a number is an int64 when written as an integer
	// that fits, a float64 otherwise); nil when there are none.
	// binary_data_output is not kept here: it is BinaryDataOutput.
	Parameters map[string]any
	// Inputs are the input tensors in request order. A binary input's Raw is
	// a sub-slice of the body passed to DecodeRequest (capped, so appending
	// copies): the body must stay unmodified while the request is in use.
	Inputs []tritonclient.Tensor
	// Outputs are the requested outputs in request order; empty means all outputs.
	Outputs []RequestedOutput
	// BinaryDataOutput is the request-level binary_data_output parameter: send every output as binary unless the output says otherwise.
	BinaryDataOutput bool
}

// RequestedOutput is one entry of the request's "outputs".
type RequestedOutput struct {
	// Name is the output's name.
	Name string
	// Binary is the output's binary_data parameter; nil when not set.
	Binary *bool
	// Parameters are the output's other parameters (binary_data is Binary); nil when there are none.
	Parameters map[string]any
}

// DecodeRequest parses a v2 inference request body. headerLen < 0 means the
// whole body is JSON (no Inference-Header-Content-Length header); headerLen
// >= 0 splits the body into the JSON header (the first headerLen bytes) and
// the binary section, which the inputs with a binary_data_size parameter
// must consume exactly, in input order. Every error wraps ErrBadRequest and
// is a *FieldError naming the offending field.
func DecodeRequest(body []byte, headerLen int) (*Request, error) {
	if len(body) == 0 {
		return nil, fieldErr("body", "empty")
	}
	d := decoder{p: parser{buf: body}}
	if headerLen >= 0 {
		if headerLen > len(body) {
			return nil, fieldErr(InferenceHeaderContentLength, "%d is past the end of the %d-byte body", headerLen, len(body))
		}
		if headerLen == 0 {
			return nil, fieldErr(InferenceHeaderContentLength, "is 0: the body has no JSON header")
		}
		d.p.buf, d.bin, d.hasBin = body[:headerLen], body[headerLen:], true
	}
	req := &Request{}
	if err := d.request(req); err != nil {
		return nil, err
	}
	return req, nil
}

// decoder holds the state of one DecodeRequest.
type decoder struct {
	p parser
	// bin is the binary section after the JSON header; hasBin says whether the request has one.
	bin    []byte
	hasBin bool
	// binOff is how much of bin the inputs so far have consumed.
	binOff int
	// inputNames indexes input names once there are too many for a linear scan.
	inputNames map[string]int
}

// linearScanMax is how many names are checked for duplicates by a linear scan before a map is built.
const linearScanMax = 16

// wrap turns a parser error into a *FieldError for l.
func wrap(l loc, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*FieldError); ok {
		return err
	}
	return &FieldError{Field: l.String(), Msg: err.Error()}
}

// locErr returns a *FieldError for l with a formatted message.
func locErr(l loc, format string, args ...any) error {
	return fieldErr(l.String(), format, args...)
}

// mustBe reports that the value at p.pos, which starts with c, is not of kind want.
// Invalid JSON is reported as such rather than as the wrong kind of value.
func (p *parser) mustBe(l loc, want string, c byte) error {
	if err := p.skip(1); err != nil {
		return wrap(l, err)
	}
	return locErr(l, "must be %s, got %s", want, kindOf(c))
}

// nullValue consumes a null at p.pos if there is one (after whitespace) and
// reports whether it did; otherwise it returns the value's first byte.
func (p *parser) nullValue(l loc) (c byte, null bool, err error) {
	if c, err = p.peek(); err != nil {
		return 0, false, wrap(l, err)
	}
	if c != 'n' {
		return c, false, nil
	}
	return c, true, wrap(l, p.literal("null"))
}

// Known keys, as bits for duplicate detection.
const (
	keyID = 1 << iota
	keyParameters
	keyInputs
	keyOutputs
	keyName
	keyDatatype
	keyShape
	keyData
)

// request parses the whole JSON header into req and checks the binary section is used up.
func (d *decoder) request(req *Request) error {
	p := &d.p
	body := loc{sub: "body"}
	p.ws()
	if p.pos == len(p.buf) {
		return locErr(body, "no JSON object (the JSON header is empty)")
	}
	if c := p.buf[p.pos]; c != '{' {
		return p.mustBe(body, "a JSON object", c)
	}
	p.pos++
	seen, hasInputs := 0, false
	for first := true; ; first = false {
		key, more, err := p.nextMember(first)
		if err != nil {
			return wrap(body, err)
		}
		if !more {
			break
		}
		var l loc
		var bit int
		switch string(key) {
		case "id":
			bit, l = keyID, loc{sub: "id"}
		case "parameters":
			bit, l = keyParameters, loc{sub: "parameters"}
		case "inputs":
			bit, l = keyInputs, loc{sub: "inputs"}
		case "outputs":
			bit, l = keyOutputs, loc{sub: "outputs"}
		default:
			l = loc{sub: string(key)}
			if err := p.skip(1); err != nil {
				return wrap(l, err)
			}
			continue
		}
		if seen&bit != 0 {
			return locErr(l, "appears twice")
		}
		seen |= bit
		c, null, err := p.nullValue(l)
		if err != nil {
			return err
		}
		if null {
			continue
		}
		switch bit {
		case keyID:
			if c != '"' {
				return p.mustBe(l, "a string", c)
			}
			s, err := p.str()
			if err != nil {
				return wrap(l, err)
			}
			req.ID = string(s)
		case keyParameters:
			if c != '{' {
				return p.mustBe(l, "an object", c)
			}
			if err := d.requestParameters(req, l); err != nil {
				return err
			}
		case keyInputs:
			if c != '[' {
				return p.mustBe(l, "an array", c)
			}
			hasInputs = true
			if err := d.inputs(req); err != nil {
				return err
			}
		case keyOutputs:
			if c != '[' {
				return p.mustBe(l, "an array", c)
			}
			if err := d.outputs(req); err != nil {
				return err
			}
		}
	}
	p.ws()
	if p.pos < len(p.buf) {
		err := syntaxErr(p.pos, "unexpected %s after the JSON object", describeByte(p.buf[p.pos]))
		if !d.hasBin {
			err.msg += " (binary data without an Inference-Header-Content-Length header?)"
		}
		return wrap(body, err)
	}
	switch {
	case !hasInputs:
		return locErr(loc{sub: "inputs"}, "missing")
	case len(req.Inputs) == 0:
		return locErr(loc{sub: "inputs"}, "empty: a request needs at least one input")
	}
	if left := len(d.bin) - d.binOff; left > 0 {
		return locErr(body, "%d bytes of binary data left over: the binary section has %d bytes and the inputs' binary_data_size add up to %d", left, len(d.bin), d.binOff)
	}
	return nil
}

// requestParameters parses the request-level parameters object at p.pos (its '{').
func (d *decoder) requestParameters(req *Request, l loc) error {
	p := &d.p
	p.pos++
	for first := true; ; first = false {
		key, more, err := p.nextMember(first)
		if err != nil {
			return wrap(l, err)
		}
		if !more {
			return nil
		}
		if string(key) == "binary_data_output" {
			l.key = "binary_data_output"
			if req.BinaryDataOutput, err = p.boolParam(l); err != nil {
				return err
			}
			continue
		}
		name := string(key)
		l.key = name
		v, err := p.paramValue(l)
		if err != nil {
			return err
		}
		if req.Parameters == nil {
			req.Parameters = make(map[string]any)
		}
		req.Parameters[name] = v
	}
}

// boolParam parses a parameter value that must be a bool.
func (p *parser) boolParam(l loc) (bool, error) {
	c, err := p.peek()
	if err != nil {
		return false, wrap(l, err)
	}
	if c != 't' && c != 'f' {
		return false, p.mustBe(l, "a bool", c)
	}
	b, err := p.boolValue()
	return b, wrap(l, err)
}

// paramValue parses a parameter value: a bool, a number (int64 when it is an integer literal that fits, float64 otherwise) or a string.
func (p *parser) paramValue(l loc) (any, error) {
	c, err := p.peek()
	if err != nil {
		return nil, wrap(l, err)
	}
	switch kindOf(c) {
	case "a bool":
		b, err := p.boolValue()
		return b, wrap(l, err)
	case "a string":
		s, err := p.str()
		if err != nil {
			return nil, wrap(l, err)
		}
		return string(s), nil
	case "a number":
		lit, isInt, err := p.number()
		if err != nil {
			return nil, wrap(l, err)
		}
		if isInt {
			if v, ok := intValue(lit); ok {
				return v, nil
			}
		}
		f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
		if err != nil {
			return nil, locErr(l, "%s is out of range for a number parameter", quoteLiteral(lit))
		}
		return f, nil
	default:
		return nil, p.mustBe(l, "a bool, number or string", c)
	}
}

// inputs parses the "inputs" array at p.pos (its '[').
func (d *decoder) inputs(req *Request) error {
	p := &d.p
	p.pos++
	for i := 0; ; i++ {
		more, err := p.nextElement(i == 0)
		if err != nil {
			return wrap(loc{sub: "inputs"}, err)
		}
		if !more {
			return nil
		}
		l := loc{list: "inputs", index: i}
		if c := p.buf[p.pos]; c != '{' {
			return p.mustBe(l, "an object", c)
		}
		t, err := d.input(l)
		if err != nil {
			return err
		}
		if j := d.inputIndex(req.Inputs, t.Name); j >= 0 {
			return locErr(l.at(".name"), "duplicate input %q (also inputs[%d])", t.Name, j)
		}
		req.Inputs = append(req.Inputs, t)
		if d.inputNames != nil {
			d.inputNames[t.Name] = i
		}
	}
}

// inputIndex returns the index of the input called name among inputs, or -1.
func (d *decoder) inputIndex(inputs []tritonclient.Tensor, name string) int {
	if d.inputNames == nil && len(inputs) > linearScanMax {
		d.inputNames = make(map[string]int, 2*len(inputs))
		for j, t := range inputs {
			d.inputNames[t.Name] = j
		}
	}
	if d.inputNames != nil {
		if j, ok := d.inputNames[name]; ok {
			return j
		}
		return -1
	}
	for j, t := range inputs {
		if t.Name == name {
			return j
		}
	}
	return -1
}

// indexField returns "base[i]".
func indexField(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}

// loc is the location of a field, rendered into a string only when an
// error needs it: list[index]sub.key, or sub.key for a top-level field.
type loc struct {
	// list is "inputs" or "outputs", or "" for a top-level field.
	list  string
	index int
	// sub is the path below the list element (".shape", ".parameters"), or the top-level key.
	sub string
	// key is a key from the request appended after sub, such as a parameter name.
	key string
}

// at returns l with sub set.
func (l loc) at(sub string) loc {
	l.sub = sub
	return l
}

// String renders the location, e.g. "inputs[1].shape" or "parameters.timeout".
func (l loc) String() string {
	s := l.sub
	if l.list != "" {
		s = indexField(l.list, l.index) + s
	}
	if l.key != "" {
		if s == "" {
			return l.key
		}
		s += "." + l.key
	}
	return s
}

// input parses the input object at p.pos (its '{'); l locates it.
func (d *decoder) input(l loc) (tritonclient.Tensor, error) {
	p := &d.p
	p.pos++
	var (
		t        tritonclient.Tensor
		seen     int
		n        int64 // element count, once the shape is parsed
		binSize  = int64(-1)
		hasData  bool
		dataSpan [2]int // the data value's bytes when it is parsed after the object
		parsed   bool   // data already parsed into t.Raw
		count    int64  // elements found in data
	)
	for first := true; ; first = false {
		key, more, err := p.nextMember(first)
		if err != nil {
			return t, wrap(l, err)
		}
		if !more {
			break
		}
		var bit int
		var fl loc
		switch string(key) {
		case "name":
			bit, fl = keyName, l.at(".name")
		case "datatype":
			bit, fl = keyDatatype, l.at(".datatype")
		case "shape":
			bit, fl = keyShape, l.at(".shape")
		case "parameters":
			bit, fl = keyParameters, l.at(".parameters")
		case "data":
			bit, fl = keyData, l.at(".data")
		default:
			fl = l
			fl.key = string(key)
			if err := p.skip(3); err != nil {
				return t, wrap(fl, err)
			}
			continue
		}
		if seen&bit != 0 {
			return t, locErr(fl, "appears twice")
		}
		c, null, err := p.nullValue(fl)
		if err != nil {
			return t, err
		}
		if null {
			continue // null is absent
		}
		seen |= bit
		switch bit {
		case keyName, keyDatatype:
			if c != '"' {
				return t, p.mustBe(fl, "a string", c)
			}
			s, err := p.str()
			if err != nil {
				return t, wrap(fl, err)
			}
			if bit == keyName {
				if len(s) == 0 {
					return t, locErr(fl, "empty")
				}
				t.Name = string(s)
				break
			}
			dt, err := tritonclient.ParseDataType(string(s))
			if err != nil {
				return t, locErr(fl, "unknown datatype %q", s)
			}
			t.DataType = dt
		case keyShape:
			if c != '[' {
				return t, p.mustBe(fl, "an array", c)
			}
			if t.Shape, n, err = p.shape(fl); err != nil {
				return t, err
			}
		case keyParameters:
			if c != '{' {
				return t, p.mustBe(fl, "an object", c)
			}
			if binSize, err = p.inputParameters(fl); err != nil {
				return t, err
			}
		case keyData:
			if c != '[' {
				return t, p.mustBe(fl, "an array", c)
			}
			hasData = true
			if seen&keyShape != 0 && seen&keyDatatype != 0 && t.DataType != tritonclient.FP16 && t.DataType != tritonclient.BF16 {
				// The usual order: datatype and shape came first, so parse straight into the tensor.
				if t.Raw, count, err = parseData(p, fl, t.DataType, n); err != nil {
					return t, err
				}
				parsed = true
				break
			}
			dataSpan[0] = p.pos
			if err := p.skip(3); err != nil {
				return t, wrap(fl, err)
			}
			dataSpan[1] = p.pos
		}
	}
	switch {
	case seen&keyName == 0:
		return t, locErr(l.at(".name"), "missing")
	case seen&keyDatatype == 0:
		return t, locErr(l.at(".datatype"), "missing")
	case seen&keyShape == 0:
		return t, locErr(l.at(".shape"), "missing")
	case hasData && binSize >= 0:
		return t, locErr(l, "has both data and parameters.binary_data_size")
	case !hasData && binSize < 0:
		return t, locErr(l.at(".data"), "missing (and no parameters.binary_data_size)")
	case binSize >= 0:
		return t, d.binaryInput(&t, l, n, binSize)
	}
	fl := l.at(".data")
	if t.DataType == tritonclient.FP16 || t.DataType == tritonclient.BF16 {
		return t, locErr(fl, "%s is not supported in JSON: send it as binary data (parameters.binary_data_size)", t.DataType)
	}
	if !parsed {
		sub := parser{buf: p.buf[:dataSpan[1]], pos: dataSpan[0]}
		var err error
		if t.Raw, count, err = parseData(&sub, fl, t.DataType, n); err != nil {
			return t, err
		}
	}
	if count != n {
		return t, locErr(fl, "has %d elements, but shape %v needs %d", count, t.Shape, n)
	}
	return t, nil
}

// shape parses a shape array at p.pos (its '[') and returns it with its element count.
func (p *parser) shape(l loc) ([]int64, int64, error) {
	p.pos++
	shape := make([]int64, 0, 4)
	for j := 0; ; j++ {
		more, err := p.nextElement(j == 0)
		if err != nil {
			return nil, 0, wrap(l, err)
		}
		if !more {
			break
		}
		dim := func() string { return indexField(l.String(), j) }
		if c := p.buf[p.pos]; kindOf(c) != "a number" {
			if err := p.skip(1); err != nil {
				return nil, 0, fieldErr(dim(), "%s", err)
			}
			return nil, 0, fieldErr(dim(), "must be an integer, got %s", kindOf(c))
		}
		lit, isInt, err := p.number()
		if err != nil {
			return nil, 0, fieldErr(dim(), "%s", err)
		}
		if !isInt {
			return nil, 0, fieldErr(dim(), "%s is not an integer", quoteLiteral(lit))
		}
		v, ok := intValue(lit)
		switch {
		case !ok:
			return nil, 0, fieldErr(dim(), "%s is out of range", quoteLiteral(lit))
		case v < 0:
			return nil, 0, fieldErr(dim(), "%d is negative", v)
		}
		shape = append(shape, v)
	}
	n, err := tritonclient.ElementCount(shape)
	if err != nil {
		return nil, 0, &FieldError{Field: l.String(), Msg: err.Error(), Err: err}
	}
	return shape, n, nil
}

// inputParameters parses an input's parameters object at p.pos (its '{')
// and returns binary_data_size, or -1 when absent. Other parameters are
// checked and dropped: a tensor has nowhere to keep them.
func (p *parser) inputParameters(l loc) (int64, error) {
	p.pos++
	binSize := int64(-1)
	for first := true; ; first = false {
		key, more, err := p.nextMember(first)
		if err != nil {
			return 0, wrap(l, err)
		}
		if !more {
			return binSize, nil
		}
		switch string(key) {
		case "binary_data_size":
			l.key = "binary_data_size"
			if binSize, err = p.sizeParam(l); err != nil {
				return 0, err
			}
		case "shared_memory_region", "shared_memory_byte_size", "shared_memory_offset":
			l.key = string(key)
			return 0, locErr(l, "shared memory is not supported")
		default:
			l.key = string(key)
			if _, err := p.paramValue(l); err != nil {
				return 0, err
			}
		}
	}
}

// sizeParam parses a parameter value that must be a non-negative integer.
func (p *parser) sizeParam(l loc) (int64, error) {
	c, err := p.peek()
	if err != nil {
		return 0, wrap(l, err)
	}
	if kindOf(c) != "a number" {
		return 0, p.mustBe(l, "a non-negative integer", c)
	}
	lit, isInt, err := p.number()
	if err != nil {
		return 0, wrap(l, err)
	}
	v, ok := intValue(lit)
	if !isInt || !ok || v < 0 {
		return 0, locErr(l, "must be a non-negative integer, got %s", quoteLiteral(lit))
	}
	return v, nil
}

// binaryInput takes t's contents, binSize bytes, from the binary section; l locates the input.
func (d *decoder) binaryInput(t *tritonclient.Tensor, l loc, n, binSize int64) error {
	fl := l.at(".parameters")
	fl.key = "binary_data_size"
	if !d.hasBin {
		return locErr(fl, "is set, but the request has no binary data (no Inference-Header-Content-Length header)")
	}
	if size := int64(t.DataType.ElementSize()); size > 0 {
		if n > math.MaxInt64/size || n*size != binSize {
			return locErr(fl, "is %d, but %s shape %v needs %s bytes", binSize, t.DataType, t.Shape, bigMul(n, size))
		}
	}
	left := len(d.bin) - d.binOff
	if binSize > int64(left) {
		return locErr(fl, "is %d, but only %d bytes of binary data are left (the binary section has %d bytes; truncated body?)", binSize, left, len(d.bin))
	}
	end := d.binOff + int(binSize)
	t.Raw = d.bin[d.binOff:end:end]
	d.binOff = end
	if t.DataType == tritonclient.Bytes {
		if err := t.Validate(); err != nil {
			return &FieldError{Field: l.String(), Msg: err.Error(), Err: err}
		}
	}
	return nil
}

// bigMul renders n*size for a message, even when it overflows int64.
func bigMul(n, size int64) string {
	if n <= math.MaxInt64/size {
		return strconv.FormatInt(n*size, 10)
	}
	return fmt.Sprintf("%d×%d", n, size)
}

// outputs parses the "outputs" array at p.pos (its '[').
func (d *decoder) outputs(req *Request) error {
	p := &d.p
	p.pos++
	var names map[string]int
	for i := 0; ; i++ {
		more, err := p.nextElement(i == 0)
		if err != nil {
			return wrap(loc{sub: "outputs"}, err)
		}
		if !more {
			return nil
		}
		l := loc{list: "outputs", index: i}
		if c := p.buf[p.pos]; c != '{' {
			return p.mustBe(l, "an object", c)
		}
		o, err := p.output(l)
		if err != nil {
			return err
		}
		if names == nil && len(req.Outputs) > linearScanMax {
			names = make(map[string]int, 2*len(req.Outputs))
			for k, prev := range req.Outputs {
				names[prev.Name] = k
			}
		}
		j := -1
		if names != nil {
			if k, ok := names[o.Name]; ok {
				j = k
			}
			names[o.Name] = i
		} else {
			for k, prev := range req.Outputs {
				if prev.Name == o.Name {
					j = k
					break
				}
			}
		}
		if j >= 0 {
			return locErr(l.at(".name"), "duplicate output %q (also outputs[%d])", o.Name, j)
		}
		req.Outputs = append(req.Outputs, o)
	}
}

// output parses one requested output object at p.pos (its '{'); l locates it.
func (p *parser) output(l loc) (RequestedOutput, error) {
	p.pos++
	var o RequestedOutput
	seen := 0
	for first := true; ; first = false {
		key, more, err := p.nextMember(first)
		if err != nil {
			return o, wrap(l, err)
		}
		if !more {
			break
		}
		var bit int
		var fl loc
		switch string(key) {
		case "name":
			bit, fl = keyName, l.at(".name")
		case "parameters":
			bit, fl = keyParameters, l.at(".parameters")
		default:
			fl = l
			fl.key = string(key)
			if err := p.skip(3); err != nil {
				return o, wrap(fl, err)
			}
			continue
		}
		if seen&bit != 0 {
			return o, locErr(fl, "appears twice")
		}
		c, null, err := p.nullValue(fl)
		if err != nil {
			return o, err
		}
		if null {
			continue
		}
		seen |= bit
		if bit == keyName {
			if c != '"' {
				return o, p.mustBe(fl, "a string", c)
			}
			s, err := p.str()
			if err != nil {
				return o, wrap(fl, err)
			}
			if len(s) == 0 {
				return o, locErr(fl, "empty")
			}
			o.Name = string(s)
			continue
		}
		if c != '{' {
			return o, p.mustBe(fl, "an object", c)
		}
		if err := p.outputParameters(&o, fl); err != nil {
			return o, err
		}
	}
	if seen&keyName == 0 {
		return o, locErr(l.at(".name"), "missing")
	}
	return o, nil
}

// outputParameters parses a requested output's parameters object at p.pos (its '{').
func (p *parser) outputParameters(o *RequestedOutput, l loc) error {
	p.pos++
	for first := true; ; first = false {
		key, more, err := p.nextMember(first)
		if err != nil {
			return wrap(l, err)
		}
		if !more {
			return nil
		}
		name := string(key)
		l.key = name
		switch name {
		case "binary_data":
			b, err := p.boolParam(l)
			if err != nil {
				return err
			}
			o.Binary = &b
			continue
		case "shared_memory_region", "shared_memory_byte_size", "shared_memory_offset":
			return locErr(l, "shared memory is not supported")
		case "classification":
			return locErr(l, "the classification extension is not supported")
		}
		v, err := p.paramValue(l)
		if err != nil {
			return err
		}
		if o.Parameters == nil {
			o.Parameters = make(map[string]any)
		}
		o.Parameters[name] = v
	}
}
