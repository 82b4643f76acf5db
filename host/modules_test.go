package host_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/host"
)

// TestTestModulesAreFresh rebuilds the committed test modules from their
// sources and compares bytes: the Go one (committed gzip-compressed, as
// testpass.wasm.gz) always, since it needs only go; the WAT ones when
// wat2wasm is installed.
func TestTestModulesAreFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wasm modules")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "testpass.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-ldflags=-s -w -buildid=", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "testpass")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	committed, _ := host.TestpassWasm(t)
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, committed) {
		t.Errorf("testdata/testpass.wasm.gz is stale: run host/testdata/build.sh")
	}

	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Log("wat2wasm not installed; WAT modules not checked")
		return
	}
	wats, _ := filepath.Glob(filepath.Join("testdata", "wat", "*.wat"))
	for _, wat := range wats {
		name := strings.TrimSuffix(filepath.Base(wat), ".wat") + ".wasm"
		out := filepath.Join(dir, name)
		if b, err := exec.Command("wat2wasm", wat, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", wat, err, b)
		}
		same(t, out, testdata(name))
	}
}

func same(t *testing.T, built, committed string) {
	t.Helper()
	a, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s is stale: run host/testdata/build.sh", committed)
	}
}
