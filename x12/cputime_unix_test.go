//go:build unix

package x12

import "syscall"

// processCPU returns the CPU time (user and system) the process has used, in
// nanoseconds, or -1 when unknown. Benchmarks report throughput per CPU
// second next to the wall-clock MB/s: on a shared machine the latter also
// measures the other processes.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
