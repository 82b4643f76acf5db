//go:build !amd64 || purego

package vec

var (
	dotF32    = dotF32Go
	dotBF16   = dotBF16Go
	dotF16    = dotF16Go
	axpyF32   = axpyF32Go
	axpyBF16  = axpyBF16Go
	axpyF16   = axpyF16Go
	bf16ToF32 = bf16ToF32Go
	f16ToF32  = f16ToF32Go
	dot4F32   = dot4F32Go
	sum       = sumGo
	sum4      = sum4Go
	dot3x4F32 = dot3x4F32Go
	expTail   = expTailGo
	siluTail  = siluTailGo
	swiTail   = swigluTailGo
)

// HasAsm reports whether assembly kernels are in use.
func HasAsm() bool { return false }
