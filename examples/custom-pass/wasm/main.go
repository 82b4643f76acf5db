//go:build wasip1

// Command wasm is the pow_square example pass as an ABI v1 WebAssembly
// module: sdk.Main exports the ABI functions for Pass.
package main

import (
	square "github.com/graphpass/graphpass/examples/custom-pass"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(square.Pass) }

func main() {}
