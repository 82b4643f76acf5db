//go:build wasip1

// Command wasm is the if_present pass as an ABI v1 WebAssembly module.
package main

import (
	ifpresent "github.com/graphpass/graphpass/passes/if_present"
	"github.com/graphpass/graphpass/sdk"
)

func init() { sdk.Main(ifpresent.Pass) }

func main() {}
