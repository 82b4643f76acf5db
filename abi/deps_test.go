package abi_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoReflectiveProtobuf guards module size: package abi is linked into
// every wasm pass and must not import protobuf-go at all, not even
// protowire, whose package initialisation links fmt (see wire.go). It also
// proves abi builds for wasip1.
func TestNoReflectiveProtobuf(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "google.golang.org/protobuf/") {
			t.Errorf("package abi depends on %s", dep)
		}
	}
}
