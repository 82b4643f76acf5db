//go:build wasip1

// Command wasm is the rms_norm pass as an ABI v1 WebAssembly module.
package main

import (
	rmsnorm "github.com/graphpass/graphpass/passes/rms_norm"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(rmsnorm.Pass) }

func main() {}
