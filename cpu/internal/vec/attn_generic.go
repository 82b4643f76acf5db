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
