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
		v := n.view.Load()
		if term, deadline, ok := n.leaseOf(v); ok {
			return Lease{Term: term, Deadline: deadline}, nil
		}
		if n.closed.Load() {
			return Lease{}, ErrClosed
		}
		if n.view.Load() != v {
			// Published since: the loop may have read the clock before
			// this goroutine did, and then it does not wake us for a
			// lease that looked lapsed only here (noteLeaseGain).
			continue
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

// noteLeaseGain notes whether the core gained a lease since the previous
// view: a new leadership's first lease, and also a renewal after the
// deadline had passed (a pause, a late timer), which is a new lease of the
// same term. Comparing the views' leases instead missed that one: the
// lapsed lease still had a deadline, so a waiter that found it lapsed slept
// on while its node held the renewed lease.
//
// A renewal counts too when the previous view's lease had lapsed by the
// clock read after it was replaced: the core renewed it at the instant the
// loop read before (no loss, no gain), but a waiter that read the previous
// view after its deadline slept. Such a waiter read the clock before this
// reading (WaitLease checks that the view it read is still the current
// one after its reading), so this reading is past the deadline too.
func (n *Node) noteLeaseGain(old, v *view) {
	switch {
	case v.leaseGains > 0 && (old == nil || old.leaseGains != v.leaseGains):
		n.leaseGained = true
	case old != nil && v.state == StateLeader && v.leaseUntil > old.leaseUntil:
		if now := n.clock.Now(); now >= old.leaseUntil && now < v.leaseUntil {
			n.leaseGained = true
		}
	}
}

// wakeLeaseWaiters wakes the goroutines in WaitLease after a lease was
// gained and published. It runs last in the loop's turn, after the
// messages and events went out, so that the waiter is the goroutine the
// loop readied last: the one its processor runs next once the loop
// sleeps. A goroutine of a C thread in graft_node_wait_lease is bound to
// that thread, and woken first (before the transport's and the callbacks'
// goroutines) it was pushed back behind them and reached by another
// processor, which woke a thread of its own to hand it over: two thread
// wake-ups instead of one (the C wake-up measured 78-135 us at p50).
// A waiter never misses the lease: the view holding it was published
// before, and WaitLease reads the view after it took the channel.
func (n *Node) wakeLeaseWaiters() {
	if !n.leaseGained {
		return
	}
	n.leaseGained = false
	next := make(leaseSignal)
	if prev := n.leaseWake.Swap(&next); prev != nil {
		close(*prev)
	}
}
