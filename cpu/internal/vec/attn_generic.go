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

// Prefetch asks for b into the L2 cache; portable Go has no prefetch, so
// it does nothing.
func Prefetch(b []byte) {}

// PrefetchF32 is Prefetch of x's bytes.
func PrefetchF32(x []float32) {}
