//go:build !amd64 || purego

package vec

var (
	sumSq    = sumSqGo
	scaleMul = scaleMulGo
	rotate   = rotateGo
)
