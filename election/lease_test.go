package election

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// leaseLog records OnLease calls.
type leaseLog struct {
	mu  sync.Mutex
	evs []event
}

func (l *leaseLog) hook(c *Config) {
	c.OnLease = func(held bool, lease Lease) {
		l.mu.Lock()
		l.evs = append(l.evs, event{kind: evLease, held: held, term: lease.Term, deadline: lease.Deadline})
		l.mu.Unlock()
	}
}

func (l *leaseLog) get() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event(nil), l.evs...)
}

func TestNode_OnLeaseAcquiredAndLostAtOnceAfterAPause(t *testing.T) {
	// Issue 13: "acquired" with the term and deadline; a process paused
	// past its deadline gets "lost" as soon as it runs, even though the
	// same step renews its lease (which is then a new "acquired").
	clk := &fakeClock{}
	var log leaseLog
	n, _ := singleNode(t, func(c *Config) { c.Clock = clk; log.hook(c) })
	lease, err := n.WaitLease(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 1, lease.Term)
	require.Eventually(t, func() bool { return len(log.get()) == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, event{kind: evLease, held: true, term: 1, deadline: lease.Deadline}, log.get()[0])

	clk.Advance(lease.Deadline+time.Millisecond, false) // paused past the deadline
	clk.Advance(0, true)                                // resumed
	require.Eventually(t, func() bool { return len(log.get()) == 3 }, 5*time.Second, time.Millisecond)
	evs := log.get()
	require.False(t, evs[1].held)
	require.Equal(t, lease.Deadline, evs[1].deadline, "the loss carries the deadline that passed")
	require.True(t, evs[2].held)
	require.Greater(t, evs[2].deadline, clk.Now())

	require.NoError(t, n.Close())
	evs = log.get()
	require.Len(t, evs, 4, "Close ends the lease: exactly one loss per acquisition")
	require.False(t, evs[3].held)
}

func TestNode_WaitLease(t *testing.T) {
	t.Run("returns once the lease holds", func(t *testing.T) {
		n, _ := singleNode(t, nil)
		lease, err := n.WaitLease(context.Background())
		require.NoError(t, err)
		term, deadline, ok := n.Lease()
		require.True(t, ok)
		require.Equal(t, term, lease.Term)
		require.LessOrEqual(t, lease.Deadline, deadline)
	})
	// lonely is one node of three whose peers never answer: no lease.
	lonely := func(t *testing.T) *Node {
		n, err := New(fastConfig("n1", []string{"n2", "n3"}), NewMemNetwork(1).Endpoint("n1"))
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		return n
	}
	t.Run("the context ends the wait", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := lonely(t).WaitLease(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("Close wakes every waiter", func(t *testing.T) {
		n := lonely(t)
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				_, err := n.WaitLease(context.Background())
				errs <- err
			}()
		}
		require.NoError(t, n.Close())
		for range 3 {
			select {
			case err := <-errs:
				require.ErrorIs(t, err, ErrClosed)
			case <-time.After(5 * time.Second):
				t.Fatal("a waiter was not woken by Close")
			}
		}
		_, err := n.WaitLease(context.Background())
		require.ErrorIs(t, err, ErrClosed)
	})
}

func TestNode_EventAtIsTheInstantTheCoreEmittedTheEvent(t *testing.T) {
	// Issue 13: a callback learns when its event happened (EventAt), not
	// only when it runs: after a pause the loss and the new lease carry the
	// instant of the tick that found them, and Close's events the instant
	// of the close, however late their callbacks run.
	clk := &fakeClock{}
	ready := make(chan struct{})
	var n *Node
	type stamped struct {
		kind     eventKind
		held     bool
		at, read time.Duration
	}
	var mu sync.Mutex
	var got []stamped
	note := func(kind eventKind, held bool) {
		<-ready // n is set
		s := stamped{kind: kind, held: held, at: n.EventAt(), read: clk.Now()}
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
	}
	leases := func() []stamped {
		mu.Lock()
		defer mu.Unlock()
		var out []stamped
		for _, s := range got {
			if s.kind == evLease {
				out = append(out, s)
			}
		}
		return out
	}
	n, _ = singleNode(t, func(c *Config) {
		c.Clock = clk
		c.OnLease = func(held bool, _ Lease) { note(evLease, held) }
		c.OnStateChange = func(State, State, uint64) { note(evState, false) }
		c.OnLeaderChange = func(string, uint64) { note(evLeader, false) }
	})
	close(ready)
	lease, err := n.WaitLease(context.Background())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(leases()) == 1 }, 5*time.Second, time.Millisecond)

	clk.Advance(lease.Deadline+time.Millisecond, false) // paused past the deadline
	resumed := clk.Now()
	clk.Advance(0, true)
	require.Eventually(t, func() bool { return len(leases()) == 3 }, 5*time.Second, time.Millisecond)
	ls := leases()
	require.False(t, ls[1].held)
	require.True(t, ls[2].held)
	require.Equal(t, resumed, ls[1].at, "the loss: the instant of the tick that found the deadline passed")
	require.Equal(t, resumed, ls[2].at, "the new lease: the same tick")

	clk.Advance(time.Second, false) // the close comes a second later
	closing := clk.Now()
	require.NoError(t, n.Close())
	mu.Lock()
	defer mu.Unlock()
	last := time.Duration(0)
	for _, s := range got {
		require.LessOrEqual(t, s.at, s.read, "an event happened before its callback read it: %+v", s)
		require.GreaterOrEqual(t, s.at, last, "instants never go back: %+v", got)
		last = s.at
	}
	end := got[len(got)-2:]
	require.Equal(t, stamped{kind: evLease, held: false, at: closing, read: closing}, end[0], "Close's loss")
	require.Equal(t, evState, end[1].kind)
	require.Equal(t, closing, end[1].at, "Close's change to StateClosed")
}
