package election

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDispatcher_CallbackDelays(t *testing.T) {
	// A slow callback makes the next one late by as much, and a callback
	// sees its own delay; the maximum is kept.
	var clk atomic.Int64
	now := func() time.Duration { return time.Duration(clk.Load()) }
	d := newDispatcher(now, nil)
	defer d.stop()

	last, largest := d.delays()
	require.Zero(t, last, "before the first callback")
	require.Zero(t, largest)

	release := make(chan struct{})
	started := make(chan struct{})
	seen := make(chan [2]time.Duration, 2)
	d.push(func() { close(started); <-release }) // the slow one, queued at 0
	<-started
	d.push(func() { // queued at 0 too, waits behind the slow one
		l, m := d.delays()
		seen <- [2]time.Duration{l, m}
	})
	clk.Store(int64(40 * time.Millisecond)) // the slow one takes 40 ms
	close(release)
	require.Equal(t, [2]time.Duration{40 * time.Millisecond, 40 * time.Millisecond}, <-seen,
		"the second callback sees its own delay, from inside")

	d.push(func() { // queued at 40 ms, runs at once
		l, m := d.delays()
		seen <- [2]time.Duration{l, m}
	})
	require.Equal(t, [2]time.Duration{0, 40 * time.Millisecond}, <-seen, "on time; the max stays")
	last, largest = d.delays()
	require.Zero(t, last)
	require.Equal(t, 40*time.Millisecond, largest)
}
