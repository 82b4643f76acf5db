#!/bin/sh
# Rebuilds the test modules of package host. The built .wasm files are
# committed, so tests need only `go`. Needs wat2wasm (apt-get install wabt).
#   host/testdata/build.sh
set -eu
cd "$(dirname "$0")"
for f in wat/*.wat; do
	wat2wasm "$f" -o "$(basename "${f%.wat}").wasm"
done
(cd testpass && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -ldflags="-s -w -buildid=" -trimpath -o ../testpass.wasm .)
