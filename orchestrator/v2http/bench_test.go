package v2http

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/batonhq/baton/tritonclient"
)

// tabularFeatures is a 64-row batch for tabular_classifier: FEATURES FP32 [64, 7].
func tabularFeatures() tritonclient.Tensor {
	vals := make([]float32, 64*7)
	for i := range vals {
		vals[i] = float32(i%97)*0.731 - 17.25 + float32(i)/1000
	}
	return must(tritonclient.NewTensor("FEATURES", []int64{64, 7}, vals))
}

// tabularJSONRequest is the FEATURES batch as a pure JSON request, data nested by row like Python clients send it.
func tabularJSONRequest() []byte {
	vals := must(tritonclient.Values[float32](tabularFeatures()))
	var b strings.Builder
	b.WriteString(`{"id":"bench","parameters":{"target_model":"tabular_classifier"},"inputs":[{"name":"FEATURES","shape":[64,7],"datatype":"FP32","data":[`)
	for r := range 64 {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for c := range 7 {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(float64(vals[r*7+c]), 'g', -1, 32))
		}
		b.WriteByte(']')
	}
	b.WriteString(`]}],"outputs":[{"name":"PROBABILITIES"}]}`)
	return []byte(b.String())
}

// tabularBinaryRequest is the FEATURES batch with binary tensor data.
func tabularBinaryRequest() ([]byte, int) {
	t := tabularFeatures()
	header := fmt.Sprintf(`{"id":"bench","parameters":{"target_model":"tabular_classifier","binary_data_output":true},`+
		`"inputs":[{"name":"FEATURES","shape":[64,7],"datatype":"FP32","parameters":{"binary_data_size":%d}}],`+
		`"outputs":[{"name":"PROBABILITIES"}]}`, len(t.Raw))
	return binarySeed(header, t.Raw)
}

func BenchmarkDecodeRequest(b *testing.B) {
	jsonBody := tabularJSONRequest()
	binBody, headerLen := tabularBinaryRequest()
	b.Run("json_64x7_fp32", func(b *testing.B) {
		b.SetBytes(int64(len(jsonBody)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeRequest(jsonBody, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary_64x7_fp32", func(b *testing.B) {
		b.SetBytes(int64(len(binBody)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeRequest(binBody, headerLen); err != nil {
				b.Fatal(err)
			}
		}
	})
	// For comparison only: encoding/json into a struct with nested []float32 (no validation, no raw bytes).
	b.Run("encoding_json_baseline_64x7_fp32", func(b *testing.B) {
		var v struct {
			ID     string         `json:"id"`
			Params map[string]any `json:"parameters"`
			Inputs []struct {
				Name     string      `json:"name"`
				Shape    []int64     `json:"shape"`
				Datatype string      `json:"datatype"`
				Data     [][]float32 `json:"data"`
			} `json:"inputs"`
			Outputs []struct {
				Name string `json:"name"`
			} `json:"outputs"`
		}
		b.SetBytes(int64(len(jsonBody)))
		b.ReportAllocs()
		for b.Loop() {
			if err := json.Unmarshal(jsonBody, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeResponse(b *testing.B) {
	probs := make([]float32, 64*3)
	for i := range probs {
		probs[i] = float32(i%3+1) / 6.0003
	}
	resp := &Response{
		ModelName: "tabular_ensemble", ModelVersion: "1", ID: "bench",
		Outputs: []tritonclient.Tensor{must(tritonclient.NewTensor("PROBABILITIES", []int64{64, 3}, probs))},
	}
	echo := &Response{ModelName: "identity_fp32", ModelVersion: "1", Outputs: []tritonclient.Tensor{tabularFeatures()}}
	for _, tc := range []struct {
		name string
		resp *Response
		req  *Request
	}{
		{"json_64x3_fp32", resp, &Request{}},
		{"binary_64x3_fp32", resp, &Request{BinaryDataOutput: true}},
		{"json_64x7_fp32", echo, &Request{}},
		{"binary_64x7_fp32", echo, &Request{BinaryDataOutput: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				body, _, err := EncodeResponse(tc.resp, tc.req)
				if err != nil {
					b.Fatal(err)
				}
				n = len(body)
			}
			b.SetBytes(int64(n))
		})
	}
}
