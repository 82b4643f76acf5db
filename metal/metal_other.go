//go:build !darwin || !arm64

package metal

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/graphpass/graphpass/gpu"
)

// Device is the Metal implementation of gpu.Device (macOS on Apple
// silicon only; elsewhere Open fails).
type Device struct {
	gpu.Device
	compileMillis float64
}

// ErrUnsupportedPlatform is returned by Open outside macOS on Apple silicon.
var ErrUnsupportedPlatform = errors.New("the Metal runtime needs macOS on Apple silicon (darwin/arm64)")

// Open returns an error: Metal exists only on macOS.
func Open() (*Device, error) {
	return nil, fmt.Errorf("%w; this is %s/%s", ErrUnsupportedPlatform, runtime.GOOS, runtime.GOARCH)
}
