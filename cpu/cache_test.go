package cpu

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLastLevelCache(t *testing.T) {
	dir := t.TempDir()
	for name, files := range map[string][2]string{
		"index0": {"1", "48K"}, // L1d
		"index1": {"1", "32K"}, // L1i
		"index2": {"2", "2048K"},
		"index3": {"3", "307200K"},
		"index4": {"x", "1G"}, // unreadable level: skipped
	} {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p, "level"), []byte(files[0]+"\n"), 0o644)
		os.WriteFile(filepath.Join(p, "size"), []byte(files[1]+"\n"), 0o644)
	}
	if got, want := lastLevelCache(dir), int64(307200<<10); got != want {
		t.Errorf("lastLevelCache = %d, want %d", got, want)
	}
	if got := lastLevelCache(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("no sysfs: %d, want 0", got)
	}
	for s, want := range map[string]int64{"32768K": 32 << 20, "2M": 2 << 20, "1G": 1 << 30, "512": 512, "": 0, "K": 0, "-1K": 0, "12Q": 0} {
		if got := parseCacheSize(s); got != want {
			t.Errorf("parseCacheSize(%q) = %d, want %d", s, got, want)
		}
	}
	t.Logf("this machine: %d bytes", LastLevelCacheBytes())
}
