package cpu

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LastLevelCacheBytes returns the size of the last-level cache that CPU 0
// sees (from Linux sysfs), or 0 where that is unknown. A streaming-read
// measurement needs a buffer well beyond it to measure memory rather than
// cache, and a model whose weights fit in it decodes partly from cache.
func LastLevelCacheBytes() int64 {
	return lastLevelCache("/sys/devices/system/cpu/cpu0/cache")
}

// lastLevelCache reads index*/level and index*/size under dir and returns
// the largest size at the highest level.
func lastLevelCache(dir string) int64 {
	paths, _ := filepath.Glob(filepath.Join(dir, "index*"))
	bestLevel, best := 0, int64(0)
	for _, p := range paths {
		level, err := strconv.Atoi(readTrimmed(filepath.Join(p, "level")))
		if err != nil {
			continue
		}
		size := parseCacheSize(readTrimmed(filepath.Join(p, "size")))
		if size > 0 && (level > bestLevel || level == bestLevel && size > best) {
			bestLevel, best = level, size
		}
	}
	return best
}

func readTrimmed(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// parseCacheSize parses sysfs sizes: "32768K", "2M", "512" (bytes).
func parseCacheSize(s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n * mult
}
