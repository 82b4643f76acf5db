//go:build !darwin

package metal

import (
	"errors"
	"runtime"

	"github.com/graphpass/graphpass/gpu"
)

// Device is the Metal implementation of gpu.Device (macOS only).
type Device struct {
	gpu.Device
	compileMillis float64
}

// Open returns an error: Metal exists only on macOS.
func Open() (*Device, error) {
	return nil, errors.New("the Metal runtime needs macOS on Apple Silicon; this is " + runtime.GOOS + "/" + runtime.GOARCH)
}
