//go:build !amd64 || purego

package vec

var (
	dotRows         = dotRowsGo
	dotRows2        = dotRows2Go
	weightedRowSum  = weightedRowSumGo
	weightedRowSum2 = weightedRowSum2Go
	scaleMax        = scaleMaxGo
	subScalar       = subScalarGo
	divScalar       = divScalarGo
)

// PrefetchF32 asks for x into the L2 cache; portable Go has no prefetch,
// so it does nothing.
func PrefetchF32(x []float32) {}
