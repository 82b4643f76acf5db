//go:build !amd64

package quant

func kernelName() string                                      { return "generic" }
func kernelFor(*Matrix) string                                { return "generic" }
func prepareArch(v *Vec, m *Matrix)                           {}
func matvecArch(dst []float32, v *Vec, m *Matrix, r0, r1 int) {}
