// Package monoclock reads CLOCK_MONOTONIC, the clock of Python's time.monotonic() and
// time.perf_counter() on Linux, so that Go and Python processes of one test or
// benchmark order their events on one clock.
package monoclock

import (
	"syscall"
	"unsafe"
)

// Seconds is CLOCK_MONOTONIC in seconds.
func Seconds() float64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(errno)
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}
