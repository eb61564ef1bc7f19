//go:build unix

package cep

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) the process has used: benchmarks report events per
// CPU-second besides events per wall-second, which a shared machine distorts.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
