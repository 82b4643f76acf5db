//go:build wasip1

// Command wasm is the layer_norm pass as an ABI v1 WebAssembly module.
package main

import (
	layernorm "github.com/graphpass/graphpass/passes/layer_norm"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(layernorm.Pass) }

func main() {}
