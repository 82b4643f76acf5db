//go:build wasip1

// Command wasm is the native_attention pass as an ABI v1 WebAssembly module.
package main

import (
	nativeattention "github.com/graphpass/graphpass/passes/native_attention"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(nativeattention.Pass) }

func main() {}
