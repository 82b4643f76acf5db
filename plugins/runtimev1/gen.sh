#!/bin/sh
# Regenerates the Go code of runtime.proto. Run from anywhere:
#   go generate ./plugins/...
# Needs protoc (3.21+), protoc-gen-go and protoc-gen-go-grpc in PATH or in
# $(go env GOPATH)/bin.
set -eu
cd "$(dirname "$0")"
PATH="$(go env GOPATH)/bin:$PATH"
protoc --go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	runtime.proto
