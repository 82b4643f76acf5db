package gpu

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
)

//go:embed kernels/prelude_cuda.h kernels/prelude_metal.h kernels/kernels.inc
var kernelFS embed.FS

// Target is a kernel-source dialect.
type Target int

// The dialects the shared kernel source compiles to.
const (
	CUDA  Target = iota // CUDA C++ for NVRTC
	Metal               // Metal Shading Language 2.4
)

func (t Target) String() string {
	switch t {
	case CUDA:
		return "cuda"
	case Metal:
		return "metal"
	}
	return fmt.Sprintf("target(%d)", int(t))
}

// Source returns the complete kernel source for target: its prelude (the
// macro layer) followed by the shared kernels.
func Source(t Target) string {
	prelude := "kernels/prelude_cuda.h"
	if t == Metal {
		prelude = "kernels/prelude_metal.h"
	}
	p, err := kernelFS.ReadFile(prelude)
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	k, err := kernelFS.ReadFile("kernels/kernels.inc")
	if err != nil {
		panic(err)
	}
	return string(p) + "\n#line 1 \"kernels.inc\"\n" + string(k)
}

// SourceHash identifies a target's source (with a compiler key such as
// "sm_90"), for caching compiled code on disk.
func SourceHash(t Target, key string) string {
	h := sha256.Sum256([]byte(Source(t) + "\x00" + key))
	return hex.EncodeToString(h[:16])
}
