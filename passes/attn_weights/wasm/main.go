//go:build wasip1

// Command wasm is the attn_weights pass as an ABI v1 WebAssembly module.
package main

import (
	attnweights "github.com/graphpass/graphpass/passes/attn_weights"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(attnweights.Pass) }

func main() {}
