package transport

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Memory is returned once, quiet after the last sign of load, at most
// once per interval in the process, and never after stop.
func TestRelief_OnceAfterTheLoad(t *testing.T) {
	var n atomic.Int32
	const quiet, interval = 200 * time.Millisecond, 10 * time.Second
	r := &relief{free: func() { n.Add(1) }, last: &reliefClock{}, quiet: quiet, interval: interval}
	for range 3 {
		r.loaded()
	}
	require.Zero(t, n.Load(), "not while the load goes on")
	require.Eventually(t, func() bool { return n.Load() == 1 }, 10*quiet, 10*time.Millisecond)

	r.loaded()                      // a second flood at once: not again within the interval
	time.Sleep(quiet + time.Second) // an absence: a slow machine only delays more
	require.EqualValues(t, 1, n.Load())
	r.stop()

	stopped := &relief{free: func() { n.Add(1) }, last: &reliefClock{}, quiet: quiet, interval: interval}
	stopped.loaded()
	stopped.stop()
	time.Sleep(2 * quiet)
	require.EqualValues(t, 1, n.Load(), "nothing after stop")
}

// The admission control reports each Retry it asks and each attempt it
// refuses as load.
func TestRelief_AdmissionReportsLoad(t *testing.T) {
	a := newAdmission(newAddrBook())
	a.relief.free = func() {}
	defer a.relief.stop()
	from := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 40000}
	for range retryAbove {
		require.False(t, a.mustValidate(from))
		_, err := a.admit(from)
		require.NoError(t, err)
	}
	a.relief.mu.Lock()
	require.True(t, a.relief.loadAt.IsZero(), "no load yet")
	a.relief.mu.Unlock()
	require.True(t, a.mustValidate(from))
	a.relief.mu.Lock()
	defer a.relief.mu.Unlock()
	require.False(t, a.relief.loadAt.IsZero(), "a Retry is load")
}
