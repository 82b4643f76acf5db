//go:build wasip1

// Command wasm is the quantize pass as an ABI v1 WebAssembly module.
package main

import (
	"github.com/graphpass/graphpass/passes/quantize"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(quantize.Pass) }

func main() {}
