//go:build !unix

package x12

// processCPU returns -1: the process CPU time is not measured on this system.
func processCPU() int64 { return -1 }
