package election

import (
	"context"
	"time"
)

// Lease is a leadership lease: this node may act as leader, fencing its
// writes with Term, until Deadline.
type Lease struct {
	// Term is the term of the leadership: the fencing token.
	Term uint64
	// Deadline is the instant of the node's Clock by which the leader must
	// stop acting unless the lease is renewed. With SystemClock,
	// MonotonicAt(Deadline) is that instant as a time.Time.
	Deadline time.Duration
}

// leaseSignal wakes the goroutines in WaitLease: publish closes the current
// channel and installs a new one whenever the core reports a lease gained.
type leaseSignal chan struct{}

// WaitLease blocks until this node holds the lease and returns it: at once
// if it holds it now. It returns ctx's error when ctx ends first, and
// ErrClosed when the node is or gets closed (Close wakes every waiter).
func (n *Node) WaitLease(ctx context.Context) (Lease, error) {
	for {
		ch := *n.leaseWake.Load()
		if term, deadline, ok := n.Lease(); ok {
			return Lease{Term: term, Deadline: deadline}, nil
		}
		if n.closed.Load() {
			return Lease{}, ErrClosed
		}
		select {
		case <-ch:
		case <-n.quit:
			return Lease{}, ErrClosed
		case <-ctx.Done():
			return Lease{}, ctx.Err()
		}
	}
}

// signalLease wakes the waiters of WaitLease if the core gained a lease
// since the previous view: a new leadership's first lease, and also a
// renewal after the deadline had passed (a pause, a late timer), which is a
// new lease of the same term. Comparing the views' leases instead missed
// that one: the lapsed lease still had a deadline, so a waiter that found
// it lapsed slept on while its node held the renewed lease.
func (n *Node) signalLease(old, v *view) {
	if v.leaseGains == 0 || (old != nil && old.leaseGains == v.leaseGains) {
		return
	}
	next := make(leaseSignal)
	if prev := n.leaseWake.Swap(&next); prev != nil {
		close(*prev)
	}
}
