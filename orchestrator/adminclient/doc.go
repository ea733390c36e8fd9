// Package adminclient is the HTTP client for Baton's admin API and
// invocation front doors, used by the baton CLI.
//
// It owns: applying, reading, listing and deleting pipeline specs under
// /admin/pipelines (specs travel as raw JSON; YAML is converted to JSON on
// the client so the server only ever receives JSON); SageMaker-style
// invocations at /pipelines/{name}/invocations; Triton v2 JSON inference at
// /v2/models/{name}/infer; and decoding the server's error bodies into
// *APIError, which unwraps to ErrNotFound, ErrConflict or ErrInvalid by
// status code.
//
// It must not interpret specs beyond reading their "name" field: the server
// validates them and reports problems.
package adminclient
