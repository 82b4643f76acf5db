#!/bin/sh
# Rebuilds the test modules of package host. The built modules are
# committed, so tests need only `go`: the WAT ones as .wasm (needs wat2wasm:
# apt-get install wabt), the Go one gzip-compressed as testpass.wasm.gz
# (deterministic: no name, no timestamp).
#   host/testdata/build.sh
set -eu
cd "$(dirname "$0")"
for f in wat/*.wat; do
	wat2wasm "$f" -o "$(basename "${f%.wat}").wasm"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd testpass && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -ldflags="-s -w -buildid=" -trimpath -o "$tmp/testpass.wasm" .)
gzip -n -9 -c "$tmp/testpass.wasm" > testpass.wasm.gz
rm -f testpass.wasm
