//go:build wasip1

// Command wasm is the swiglu pass as an ABI v1 WebAssembly module.
package main

import (
	"github.com/graphpass/graphpass/passes/swiglu"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(swiglu.Pass) }

func main() {}
