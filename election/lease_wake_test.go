package election

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatedClock is a fakeClock whose Now, once armed, holds the election
// loop's first call that reads an instant at or past from: the loop has
// its reading, and the test moves the clock on before the loop uses it
// (a loop preempted between reading the clock and publishing). It also
// counts the readings made inside WaitLease.
type gatedClock struct {
	*fakeClock
	mu      sync.Mutex
	from    time.Duration
	armed   bool
	held    chan struct{} // closed when the loop's reading is held
	release chan struct{}
	waits   int // readings inside WaitLease
}

// inCaller reports whether a function whose name ends in suffix is on the
// calling goroutine's stack.
func inCaller(suffix string) bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, suffix) {
			return true
		}
		if !more {
			return false
		}
	}
}

func (c *gatedClock) Now() time.Duration {
	now := c.fakeClock.Now()
	c.mu.Lock()
	if inCaller(".(*Node).WaitLease") {
		c.waits++
	}
	hold := c.armed && now >= c.from && inCaller(".(*Node).loop")
	if hold {
		c.armed = false
		close(c.held)
	}
	c.mu.Unlock()
	if hold {
		<-c.release
	}
	return now
}

func (c *gatedClock) waitsSeen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waits
}

// pendingTimer reports whether the loop has armed a timer in the future.
func (c *fakeClock) pendingTimer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if !t.stopped && t.at > c.now {
			return true
		}
	}
	return false
}

func TestNode_WaitLeaseWakesWhenARenewalPublishedLateRevivesALapsedView(t *testing.T) {
	// Issue 13: WaitLease returns once the node holds the lease. The core
	// renews the lease at the instant the loop read (before the deadline:
	// no loss, no new "acquired"), but the view holding the renewal is
	// published after the deadline passed; a waiter that read the view in
	// between found the lease lapsed and slept, and no gain woke it: it
	// slept on while IsLeader answered true, for as long as the
	// heartbeats kept renewing the lease.
	clk := &gatedClock{fakeClock: &fakeClock{}, held: make(chan struct{}), release: make(chan struct{})}
	n, cfg := singleNode(t, func(c *Config) { c.Clock = clk })
	lease, err := n.WaitLease(context.Background())
	require.NoError(t, err)
	require.Eventually(t, clk.pendingTimer, 5*time.Second, time.Millisecond, "the loop arms its heartbeat timer")

	clk.mu.Lock()
	clk.from, clk.armed = cfg.Heartbeat, true
	clk.mu.Unlock()
	clk.Advance(cfg.Heartbeat, true) // the heartbeat tick reads the clock...
	select {
	case <-clk.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not tick")
	}
	clk.Advance(lease.Deadline-cfg.Heartbeat, false) // ...and the deadline passes before it publishes
	require.False(t, n.IsLeader(), "the published view's lease has lapsed")

	got := make(chan error, 1)
	go func() {
		_, err := n.WaitLease(context.Background())
		got <- err
	}()
	require.Eventually(t, func() bool { return clk.waitsSeen() > 0 }, 5*time.Second, time.Millisecond, "the waiter checks the view")
	close(clk.release) // the loop publishes the lease it renewed before the deadline
	require.Eventually(t, n.IsLeader, 5*time.Second, time.Millisecond)
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("WaitLease sleeps while the node holds the lease")
	}
}
