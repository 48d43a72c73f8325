//go:build !linux

package election

import (
	"errors"
	"time"
)

// kernelTimer is Linux only: elsewhere the precise timer of
// clock_precise.go falls back to Go's timer, and is as late as it.
func kernelTimer(time.Duration) (wait func(), cancel func(), err error) {
	return nil, nil, errors.New("election: no kernel timer on this system")
}
