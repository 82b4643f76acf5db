package passes

import "github.com/graphpass/graphpass/passes/quantize"

// The quantize pass (package passes/quantize) registers here, opt-in like
// gqa_cache_fix: it is not in DefaultOrder. registry.go's init runs first
// (files initialise in name order), so a list there that names the pass
// too wins without a duplicate-registration panic.
func init() {
	if _, ok := builtins[quantize.Pass.Name]; !ok {
		register(quantize.Pass)
	}
}
