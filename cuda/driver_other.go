//go:build !linux

package cuda

import (
	"errors"
	"runtime"
)

func loadLibraries() (*api, error) {
	return nil, errors.New("the CUDA runtime needs Linux with an NVIDIA driver; this is " + runtime.GOOS + "/" + runtime.GOARCH)
}
