//go:build !linux

package election

import "time"

// sleepInKernel sleeps about d. Outside Linux it is Go's timer: the
// precise timer of clock_precise.go is then as late as a Go timer.
func sleepInKernel(d time.Duration) { time.Sleep(d) }
