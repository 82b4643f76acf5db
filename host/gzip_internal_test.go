package host

import (
	"strings"
	"testing"
)

func TestGunzipRefusesBombs(t *testing.T) {
	defer func(n int64) { maxModuleSize = n }(maxModuleSize)
	maxModuleSize = 1 << 20
	big := make([]byte, maxModuleSize+1)
	if _, err := Gunzip(Gzip(big[:maxModuleSize])); err != nil {
		t.Fatal(err)
	}
	_, err := Gunzip(Gzip(big))
	if err == nil || !strings.Contains(err.Error(), "decompresses to more than") {
		t.Fatalf("got %v", err)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{"a/b/rms_norm.wasm": "rms_norm", "x.wasm.gz": "x", "y.gz": "y", "z": "z"} {
		if got := moduleName(in); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
}

func TestNoOptions(t *testing.T) {
	for in, want := range map[string]bool{"": true, "{}": true, " { } ": true, "{\n}": true, `{"a":1}`: false, "[]": false, "null": false} {
		if got := noOptions(in); got != want {
			t.Errorf("noOptions(%q) = %v", in, got)
		}
	}
}
