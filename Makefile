# Baton's entry points. On a fresh machine each target installs what it
# needs (deploy/local/install.sh is idempotent and takes ~1 s when done).
SHELL := /bin/bash
GO ?= go
# -p 1: the Triton-backed packages each start their own fleet; run them one
# at a time so 2 cores are not shared by three fleets starting at once.
GOTEST_FLAGS ?= -race -count=1 -timeout 20m -v -p 1

.PHONY: demo test setup build generate check-generated lint

## demo: install Triton if missing, start a local fleet, serve the example pipelines on 127.0.0.1:8080 (HTTP) and :8081 (gRPC)
demo: setup build
	./bin/baton serve --local-fleet 2

## test: install what is missing, check formatting/vet/generated code, run every test against real tritonserver
test: setup lint check-generated
	$(GO) test $(GOTEST_FLAGS) ./...

setup:
	./deploy/local/install.sh
	$(GO) mod download

build:
	$(GO) build -o bin/baton ./cmd/baton

generate:
	$(GO) generate ./...

lint:
	/usr/bin/python3 model_repository/generate.py --check
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.baton/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Regenerates the protocol code into a scratch directory and fails if it
# differs from what is committed.
check-generated:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  sh tritonclient/inferencepb/gen.sh $$tmp && \
	  for f in inference.pb.go inference_grpc.pb.go; do \
	    diff -u tritonclient/inferencepb/$$f $$tmp/$$f || { echo "generated $$f is stale: run 'make generate'"; exit 1; }; \
	  done; echo "generated code is fresh"
