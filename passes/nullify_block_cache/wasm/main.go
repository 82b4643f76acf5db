//go:build wasip1

// Command wasm is the nullify_block_cache pass as an ABI v1 WebAssembly module.
package main

import (
	nullifyblockcache "github.com/graphpass/graphpass/passes/nullify_block_cache"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(nullifyblockcache.Pass) }

func main() {}
