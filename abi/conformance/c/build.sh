#!/bin/sh
# Builds dropout.wasm from dropout.c: freestanding wasm32, no libc, no WASI.
# Needs clang and wasm-ld (apt-get install clang lld). The built module is
# committed; host tests run it (host/cpass_test.go).
set -eu
cd "$(dirname "$0")"
clang --target=wasm32 -O2 -nostdlib -ffreestanding -fno-builtin \
	-Wall -Wextra -Werror -Wno-unused-parameter \
	-Wl,--no-entry -Wl,--strip-all -Wl,--allow-undefined-file=imports.txt \
	-o dropout.wasm dropout.c
