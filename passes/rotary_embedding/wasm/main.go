//go:build wasip1

// Command wasm is the rotary_embedding pass as an ABI v1 WebAssembly module.
package main

import (
	rotary "github.com/graphpass/graphpass/passes/rotary_embedding"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(rotary.Pass) }

func main() {}
