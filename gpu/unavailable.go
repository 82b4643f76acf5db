package gpu

import (
	"context"
	"fmt"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

// Unavailable is a runtime that cannot run here (no GPU, no driver): its
// Capabilities name it and Load returns why. Plugin binaries serve it so
// the host gets one clear error instead of a plugin that fails to start.
func Unavailable(name string, reason error) backend.Runtime {
	return unavailable{name: name, reason: reason}
}

type unavailable struct {
	name   string
	reason error
}

func (u unavailable) Capabilities() backend.Capabilities {
	return backend.Capabilities{Name: u.name, Device: "unavailable: " + u.reason.Error()}
}

func (u unavailable) Load(context.Context, *graph.Graph, backend.LoadOptions) (backend.Model, error) {
	return nil, fmt.Errorf("runtime %s is unavailable: %w", u.name, u.reason)
}

func (u unavailable) Close() error { return nil }
