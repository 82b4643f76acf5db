//go:build wasip1

// Command wasm is the sdpa pass as an ABI v1 WebAssembly module.
package main

import (
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(sdpa.Pass) }

func main() {}
