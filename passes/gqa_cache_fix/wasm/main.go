//go:build wasip1

// Command wasm is the gqa_cache_fix pass as an ABI v1 WebAssembly module.
package main

import (
	gqacachefix "github.com/graphpass/graphpass/passes/gqa_cache_fix"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(gqacachefix.Pass) }

func main() {}
