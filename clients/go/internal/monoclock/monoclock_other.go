//go:build !linux

package monoclock

// Seconds: Python's time.monotonic() is CLOCK_MONOTONIC on Linux; elsewhere there is no
// clock shared with it to read.
func Seconds() float64 { panic("monoclock: the shared monotonic clock is read on Linux only") }
