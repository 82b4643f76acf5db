#!/bin/sh
# Regenerates abi/abiv1pb from abi/graph.proto. Run from anywhere:
#   go generate ./abi
# Needs protoc (3.21+) and protoc-gen-go in PATH or $(go env GOPATH)/bin.
set -eu
cd "$(dirname "$0")"
PATH="$(go env GOPATH)/bin:$PATH"
protoc --go_out=abiv1pb --go_opt=paths=source_relative \
	--go_opt=Mgraph.proto=github.com/graphpass/graphpass/abi/abiv1pb graph.proto
