// Package e2e holds Baton's end-to-end tests: real tritonserver processes
// (a package fleet from fleettest), Baton's Service with its HTTP and gRPC
// front doors on loopback, and clients nobody here wrote (Python
// tritonclient, perf_analyzer). It has no non-test code beyond this file.
package e2e
