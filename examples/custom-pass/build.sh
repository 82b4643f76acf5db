#!/bin/sh
# Rebuilds pow_square.wasm from square.go reproducibly (the flags of the
# built-in passes) and pins its new sha256 in pipeline.yaml. Run it after
# changing the pass or the SDK:
#   go generate ./examples/custom-pass
set -eu
cd "$(dirname "$0")"
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -buildvcs=false \
	-ldflags='-s -w -buildid=' -o pow_square.wasm ./wasm
sum=$( (sha256sum pow_square.wasm 2>/dev/null || shasum -a 256 pow_square.wasm) | cut -d' ' -f1)
sed -i.bak "s/sha256: [0-9a-f]\{64\}/sha256: $sum/" pipeline.yaml && rm -f pipeline.yaml.bak
echo "pow_square.wasm $sum"
