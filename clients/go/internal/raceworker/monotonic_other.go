//go:build !linux

package main

// monotonic: the race suite runs on Linux, where Python's time.monotonic() is
// CLOCK_MONOTONIC; elsewhere there is no shared clock to read.
func monotonic() float64 { panic("raceworker: the shared monotonic clock is read on Linux only") }
