package transport

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/graftlib/graft/transport/internal/quicpkt"
	"github.com/stretchr/testify/require"
)

func TestLimiter_PerKeyAndBounded(t *testing.T) {
	l := limiter[string]{interval: time.Second, burst: 2, overflow: func(string) string { return "others" }}
	now := time.Now()
	for _, k := range []string{"a", "b"} {
		ok, _ := l.allow(k, now)
		require.True(t, ok)
		ok, _ = l.allow(k, now)
		require.True(t, ok)
		ok, _ = l.allow(k, now)
		require.False(t, ok, "%s: burst of 2", k)
	}
	ok, n := l.allow("a", now.Add(time.Second))
	require.True(t, ok, "one more after an interval")
	require.Equal(t, 1, n, "one was refused in between")

	// A stranger varying its subject (one event each) gets the buckets
	// left of maxSubjects, then shares one: burst more events per interval.
	allowed := 0
	for i := range 10 * maxSubjects {
		if ok, _ := l.allow(fmt.Sprint("ip ", i), now); ok {
			allowed++
		}
	}
	require.LessOrEqual(t, len(l.buckets), maxSubjects+1)
	require.Equal(t, maxSubjects-2+2, allowed)
}

func TestGate_StopWaitsForCallsInProgress(t *testing.T) {
	var g gate[string]
	g.lim = limiter[string]{interval: time.Nanosecond, burst: 1}
	g.start(nil)
	ok, _ := g.enter("x")
	require.True(t, ok)
	stopped := make(chan struct{})
	go func() {
		g.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("stop returned while a call was in progress")
	case <-time.After(50 * time.Millisecond): // no event to wait for: stop must not return
	}
	g.leave()
	<-stopped
	ok, _ = g.enter("x")
	require.False(t, ok, "nothing passes after stop")
}

func TestLogf_RateLimitedPerPeer(t *testing.T) {
	var got lines
	cfg := nodeConfig(certDir(t, "a"), "a")
	cfg.Logf = got.logf
	cfg.ErrorInterval = time.Hour
	q, err := New(cfg)
	require.NoError(t, err)
	for range 100 {
		q.logf("b", "connection with %s lost: %v", "b", errors.New("x"))
	}
	q.logf("c", "connection with %s lost: %v", "c", errors.New("x"))
	require.Len(t, got.all(), logBurst+1, "%v", got.all())
	require.Contains(t, got.all()[logBurst], "connection with c lost")
	require.NoError(t, q.Close())
	q.logf("c", "after close")
	require.Len(t, got.all(), logBurst+1, "nothing is logged after Close")
}

// TestHostile_StrangerClosingLikeAKnockIsCounted: a close with the code of
// a knock's (APPLICATION_ERROR in an Initial packet) from a stranger with
// no certificate is a failed handshake, counted and reported.
func TestHostile_StrangerClosingLikeAKnockIsCounted(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, nil)
	a := ns["a"]
	const applicationError = 0x0c
	for i := range uint64(5) {
		strangerSend(t, a.Addr(), strangerInitial(t, quicpkt.CloseFrame(nil, applicationError, "")))
		eventually(t, func() bool { return a.Stats().Dropped.HandshakeFailed > i }, "close %d like a knock's not counted", i+1)
	}
	require.True(t, slicesContainsErr(a.in.errors(), ErrHandshakeFailed))
}

// TestHostile_StrangerCannotHideAPeersFailure: a stranger's failed
// handshakes, one a second, do not use up the reports of a peer's failed
// handshakes (a certificate from another CA), although ErrorInterval is an
// hour.
func TestHostile_StrangerCannotHideAPeersFailure(t *testing.T) {
	leakCheck(t)
	good, rogue := certDir(t, "a", "b"), certDir(t, "a")
	addrs := map[string]string{"a": freeUDPAddr(t), "b": freeUDPAddr(t)}
	hourly := func(c *Config) { c.ErrorInterval = time.Hour }
	b := startPeer(t, good, "b", "a", addrs, hourly)
	strangerSend(t, b.Addr(), strangerInitial(t, quicpkt.CloseFrame(nil, 0x0a, "stranger")))
	eventually(t, func() bool { return slicesContainsErr(b.in.errors(), ErrHandshakeFailed) }, "stranger not reported")

	startPeer(t, rogue, "a", "b", addrs, hourly) // a dials b with a certificate b does not trust
	eventually(t, func() bool {
		for _, e := range b.in.errors() {
			var de *DropError
			if errors.As(e, &de) && de.Reason == ReasonHandshakeFailed && de.Remote == addrs["a"] {
				return true
			}
		}
		return false
	}, "the peer's failed handshake was not reported: %v", b.in.errors())
	require.Empty(t, b.in.messages())
}
