//go:build !linux

package bench

func readRSS(pid int) (peak, anon, file int64) { return 0, 0, 0 }

func resetPeakRSS() {}
