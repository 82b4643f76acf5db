//go:build wasip1

// Command wasm is the dropout pass as an ABI v1 WebAssembly module.
package main

import (
	"github.com/graphpass/graphpass/passes/dropout"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(dropout.Pass) }

func main() {}
