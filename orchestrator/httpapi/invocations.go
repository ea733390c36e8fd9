package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/tritonclient"
)

// invocations is the SageMaker-style door: POST /pipelines/{name}/invocations
// with text/csv rows or JSON, answering in the Accept type.
//
// The pipeline must have one input. A BYTES input receives each CSV line
// (or JSON string) as one element, shape [rows, 1] (or [rows] for a rank-1
// input); a numeric input receives the rows' fields parsed as numbers,
// shape [rows, fields]. JSON bodies are an array of rows, or {"instances":
// rows}, where a row is a string (a CSV line) or an array of values.
func (s *Server) invocations(c echo.Context) error {
	p, err := s.plan(c)
	if err != nil {
		return err
	}
	if len(p.Inputs) != 1 {
		return errorf(http.StatusBadRequest, "pipeline %q takes %d inputs; /invocations needs a single-input pipeline (use /v2/models/%s/infer)", p.Spec.Name, len(p.Inputs), p.Spec.Name)
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "empty body: send CSV rows (text/csv) or a JSON array of rows (application/json)")
	}
	ct, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	var rows [][]string
	switch ct {
	case "text/csv", "":
		rows, err = csvRows(body)
	case echo.MIMEApplicationJSON:
		rows, err = jsonRows(body)
	default:
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %q: send text/csv or application/json", ct)
	}
	if err != nil {
		return err
	}
	in, err := rowsTensor(p.Inputs[0], rows)
	if err != nil {
		return err
	}
	target, _ := targetModel(c, nil)
	timeout, err := s.requestTimeout(c, nil)
	if err != nil {
		return err
	}
	res, err := s.run(c, "invocations", p.Spec.Name, &executor.Request{Inputs: []tritonclient.Tensor{in}, TargetModel: target}, timeout)
	if err != nil {
		return err
	}
	return writeRows(c, res.Outputs, len(rows))
}

func csvRows(body []byte) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, errorf(http.StatusBadRequest, "csv line %d: %v", pe.Line, pe.Err)
			}
			return nil, errorf(http.StatusBadRequest, "csv: %v", err)
		}
		rows = append(rows, rec)
	}
}

func jsonRows(body []byte) ([][]string, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, errorf(http.StatusBadRequest, "body is not JSON: %v", err)
	}
	if obj, ok := doc.(map[string]any); ok {
		inst, found := obj["instances"]
		if !found {
			return nil, errorf(http.StatusBadRequest, "JSON object without \"instances\": send an array of rows or {\"instances\": [...]}")
		}
		doc = inst
	}
	arr, ok := doc.([]any)
	if !ok || len(arr) == 0 {
		return nil, errorf(http.StatusBadRequest, "instances: want a non-empty array of rows")
	}
	rows := make([][]string, len(arr))
	for i, row := range arr {
		switch row := row.(type) {
		case string:
			rec, err := csv.NewReader(strings.NewReader(row)).Read()
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "instances[%d]: not a CSV line: %v", i, err)
			}
			rows[i] = rec
		case []any:
			for j, v := range row {
				switch v := v.(type) {
				case json.Number:
					rows[i] = append(rows[i], v.String())
				case string:
					rows[i] = append(rows[i], v)
				case bool:
					rows[i] = append(rows[i], strconv.FormatBool(v))
				default:
					return nil, errorf(http.StatusBadRequest, "instances[%d][%d]: want a number, string or bool, got %T", i, j, v)
				}
			}
		default:
			return nil, errorf(http.StatusBadRequest, "instances[%d]: want a CSV string or an array of values", i)
		}
	}
	return rows, nil
}

// rowsTensor builds the pipeline's input from rows.
func rowsTensor(spec pipeline.TensorSpec, rows [][]string) (tritonclient.Tensor, error) {
	n := int64(len(rows))
	if spec.DataType == string(tritonclient.Bytes) {
		lines := make([]string, len(rows))
		for i, r := range rows {
			var b strings.Builder
			w := csv.NewWriter(&b)
			_ = w.Write(r)
			w.Flush()
			lines[i] = strings.TrimRight(b.String(), "\r\n")
		}
		shape := []int64{n, 1}
		if len(spec.Shape) == 1 {
			shape = []int64{n}
		}
		return tritonclient.NewStrings(spec.Name, shape, lines)
	}
	width := len(rows[0])
	if len(spec.Shape) == 2 && spec.Shape[1] > 0 {
		width = int(spec.Shape[1])
	}
	vals := make([]float64, 0, len(rows)*width)
	for i, r := range rows {
		if len(r) != width {
			return tritonclient.Tensor{}, errorf(http.StatusBadRequest, "row %d: %d fields, input %q takes %d", i, len(r), spec.Name, width)
		}
		for j, f := range r {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return tritonclient.Tensor{}, errorf(http.StatusBadRequest, "row %d, field %d: %q is not a finite number", i, j, f)
			}
			vals = append(vals, v)
		}
	}
	shape := []int64{n, int64(width)}
	switch tritonclient.DataType(spec.DataType) {
	case tritonclient.FP32:
		f32 := make([]float32, len(vals))
		for i, v := range vals {
			f32[i] = float32(v)
		}
		return tritonclient.NewTensor(spec.Name, shape, f32)
	case tritonclient.FP64:
		return tritonclient.NewTensor(spec.Name, shape, vals)
	case tritonclient.Int64, tritonclient.Int32:
		i64 := make([]int64, len(vals))
		for i, v := range vals {
			if v != math.Trunc(v) {
				return tritonclient.Tensor{}, errorf(http.StatusBadRequest, "value %d: %v is not an integer for %s input %q", i, v, spec.DataType, spec.Name)
			}
			i64[i] = int64(v)
		}
		if spec.DataType == string(tritonclient.Int32) {
			i32 := make([]int32, len(i64))
			for i, v := range i64 {
				i32[i] = int32(v)
			}
			return tritonclient.NewTensor(spec.Name, shape, i32)
		}
		return tritonclient.NewTensor(spec.Name, shape, i64)
	}
	return tritonclient.Tensor{}, errorf(http.StatusBadRequest, "input %q is %s: /invocations takes BYTES, FP32, FP64, INT32 or INT64 inputs", spec.Name, spec.DataType)
}

// writeRows answers row-wise: JSON {"predictions": [{output: value, ...}]}
// or CSV lines with the outputs in pipeline order.
func writeRows(c echo.Context, outputs []tritonclient.Tensor, n int) error {
	cols := make([][]string, len(outputs))
	for i, t := range outputs {
		vals, err := tensorStrings(t)
		if err != nil {
			return err
		}
		if n == 0 || len(vals)%n != 0 {
			return fmt.Errorf("output %q has %d values for %d rows", t.Name, len(vals), n)
		}
		cols[i] = vals
	}
	accept := c.Request().Header.Get(echo.HeaderAccept)
	if strings.Contains(accept, "text/csv") {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		for r := range n {
			var rec []string
			for _, col := range cols {
				per := len(col) / n
				rec = append(rec, col[r*per:(r+1)*per]...)
			}
			_ = w.Write(rec)
		}
		w.Flush()
		return c.Blob(http.StatusOK, "text/csv", b.Bytes())
	}
	preds := make([]map[string]any, n)
	for r := range n {
		preds[r] = map[string]any{}
		for i, col := range cols {
			per := len(col) / n
			vals := typedValues(outputs[i], col[r*per:(r+1)*per])
			if per == 1 {
				preds[r][outputs[i].Name] = vals[0]
			} else {
				preds[r][outputs[i].Name] = vals
			}
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"predictions": preds})
}

func typedValues(t tritonclient.Tensor, vals []string) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		if t.DataType == tritonclient.Bytes {
			out[i] = v
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[i] = f
		} else {
			out[i] = v
		}
	}
	return out
}

// tensorStrings renders each element as text.
func tensorStrings(t tritonclient.Tensor) ([]string, error) {
	switch t.DataType {
	case tritonclient.Bytes:
		bs, err := t.BytesValues()
		if err != nil {
			return nil, err
		}
		out := make([]string, len(bs))
		for i, b := range bs {
			out[i] = string(b)
		}
		return out, nil
	case tritonclient.FP32:
		return formatAll(t, func(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) })
	case tritonclient.FP64:
		return formatAll(t, func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) })
	case tritonclient.Int32:
		return formatAll(t, func(v int32) string { return strconv.FormatInt(int64(v), 10) })
	case tritonclient.Int64:
		return formatAll(t, func(v int64) string { return strconv.FormatInt(v, 10) })
	case tritonclient.Bool:
		return formatAll(t, strconv.FormatBool)
	}
	return nil, fmt.Errorf("output %q: %s cannot be rendered as CSV/JSON rows", t.Name, t.DataType)
}

func formatAll[T tritonclient.Numeric](t tritonclient.Tensor, f func(T) string) ([]string, error) {
	vals, err := tritonclient.Values[T](t)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = f(v)
	}
	return out, nil
}
