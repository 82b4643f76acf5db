//go:build !darwin || !arm64

package metal

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/graph"
)

// TestOpenElsewhere: off Apple silicon, opening the runtime fails with an
// error that says what it needs and what this machine is, and a plugin
// serving gpu.Unavailable passes that reason on at Load.
func TestOpenElsewhere(t *testing.T) {
	rt, err := NewRuntime()
	if err == nil || rt != nil {
		t.Fatalf("NewRuntime on %s/%s succeeded", runtime.GOOS, runtime.GOARCH)
	}
	if !errors.Is(err, ErrUnsupportedPlatform) {
		t.Errorf("error %v is not ErrUnsupportedPlatform", err)
	}
	for _, want := range []string{"macOS", "darwin/arm64", runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	u := gpu.Unavailable("metal", err)
	if c := u.Capabilities(); c.Name != "metal" || !strings.Contains(c.Device, "darwin/arm64") {
		t.Errorf("capabilities %+v", c)
	}
	_, lerr := u.Load(context.Background(), &graph.Graph{Name: "g"}, backend.LoadOptions{})
	if !errors.Is(lerr, ErrUnsupportedPlatform) {
		t.Errorf("Load error %v does not carry the reason", lerr)
	}
}
