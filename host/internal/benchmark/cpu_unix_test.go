//go:build unix

package benchmark

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used. Benchmarks report it
// next to wall time because shared CI machines are often oversubscribed.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
