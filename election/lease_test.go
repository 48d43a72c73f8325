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
