package main

import (
	"syscall"
	"unsafe"
)

// monotonic is CLOCK_MONOTONIC in seconds: the clock Python's time.monotonic() reads,
// so Go and Python workers' calls are ordered on one clock.
func monotonic() float64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(errno)
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}
