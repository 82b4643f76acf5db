package host

import (
	"os"
	"path/filepath"
	"testing"
)

// testpassWasm reads the test pass module, testdata/testpass.wasm.gz, and
// returns its bytes gunzipped and as stored, failing the test if either
// step fails.
func testpassWasm(t testing.TB) (wasm, gz []byte) {
	t.Helper()
	gz, err := os.ReadFile(filepath.Join("testdata", "testpass.wasm.gz"))
	if err != nil {
		t.Fatal(err)
	}
	wasm, err = Gunzip(gz)
	if err != nil {
		t.Fatal(err)
	}
	return wasm, gz
}

// TestpassWasm is testpassWasm for the external tests (package host_test).
var TestpassWasm = testpassWasm
