// Package v2http is the body codec for Triton's (KServe v2) HTTP inference
// protocol: it decodes a request body, including Triton's binary tensor
// data extension, into tritonclient tensors, and encodes a pipeline's
// response back into a v2 response body.
//
// It owns: parsing the JSON inference header (inputs with flat or nested
// "data", request and output parameters, binary_data_output and per-output
// binary_data), splitting the body at Inference-Header-Content-Length and
// slicing binary inputs out of it without copying, strict validation of
// every tensor with errors (*FieldError, wrapping ErrBadRequest) that name
// the offending field such as "inputs[1].shape[0]" or "inputs[0].data[7]",
// rendering responses as pure JSON or as JSON header plus binary outputs,
// and the {"error": ...} body.
//
// It is pure: it works on []byte only, so HTTP handlers, fuzz tests and
// benchmarks can all use it. It must not run an HTTP server, read requests
// or set headers (callers pass the Inference-Header-Content-Length value in
// and set the headers EncodeResponse tells them to), and it holds no
// pipeline logic: which outputs a model returns, target_model and the
// other request parameters mean nothing here and are passed on as decoded.
//
// Decoding rules, lenient about structure and strict about tensors:
//   - Unknown keys are ignored at every level (Triton ignores them too), but
//     must still be valid JSON; a known key given twice is an error; keys
//     are case-sensitive; null counts as absent for every field.
//   - A decoded input always passes tritonclient.Tensor.Validate.
//   - Integer datatypes take integer literals only (not 1.0 or 1e3) within
//     their range; FP32 and FP64 take any JSON number within range, rounded
//     to nearest; BOOL takes true/false; BYTES takes strings. FP16 and BF16
//     cannot be sent as JSON, only as binary data.
//   - JSON strings must be valid UTF-8 without lone UTF-16 surrogates, so a
//     BYTES element is never silently altered.
//   - An input's parameters other than binary_data_size are checked and
//     dropped (a tensor cannot carry them); shared memory and the
//     classification extension are rejected as unsupported.
//   - binary_data_output and binary_data are taken out of the parameter
//     maps into Request.BinaryDataOutput and RequestedOutput.Binary.
//
// The JSON scanner is hand-written for speed (no reflection, no []any, a
// Clinger fast path for floats); the tests check it against encoding/json
// and strconv.
package v2http
