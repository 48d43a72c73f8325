package election

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// funcDispatcher is a dispatcher whose evLog events named "f<n>" run the
// n-th function given to fn, and whose other events are recorded.
type funcDispatcher struct {
	*dispatcher
	mu   sync.Mutex
	fns  []func()
	seen []event
}

func newFuncDispatcher(t *testing.T, now func() time.Duration) *funcDispatcher {
	fd := &funcDispatcher{}
	fd.dispatcher = newDispatcher(now, fd.deliver, nil, StateFollower)
	t.Cleanup(func() { fd.stop(); fd.wait() })
	return fd
}

// fn returns an event that runs f.
func (fd *funcDispatcher) fn(f func()) event {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	fd.fns = append(fd.fns, f)
	return event{kind: evLog, msg: "f" + strconv.Itoa(len(fd.fns)-1)}
}

func (fd *funcDispatcher) deliver(e event) {
	fd.mu.Lock()
	var f func()
	if i, err := strconv.Atoi(e.msg[min(1, len(e.msg)):]); e.kind == evLog && len(e.msg) > 0 && e.msg[0] == 'f' && err == nil {
		f = fd.fns[i]
	} else {
		fd.seen = append(fd.seen, e)
	}
	fd.mu.Unlock()
	if f != nil {
		f()
	}
}

func (fd *funcDispatcher) events() []event {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return append([]event(nil), fd.seen...)
}

// block queues a callback that blocks until the returned function is
// called, and waits for it to start.
func (fd *funcDispatcher) block() (release func()) {
	started, done := make(chan struct{}), make(chan struct{})
	fd.push(fd.fn(func() { close(started); <-done }))
	<-started
	return func() { close(done) }
}

func TestDispatcher_CallbackDelays(t *testing.T) {
	// A slow callback makes the next one late by as much, and a callback
	// sees its own delay; the maximum is kept.
	var clk atomic.Int64
	now := func() time.Duration { return time.Duration(clk.Load()) }
	d := newFuncDispatcher(t, now)

	last, largest := d.delays()
	require.Zero(t, last, "before the first callback")
	require.Zero(t, largest)

	release := d.block() // the slow one, queued at 0
	seen := make(chan [2]time.Duration, 2)
	d.push(d.fn(func() { // queued at 0 too, waits behind the slow one
		l, m := d.delays()
		seen <- [2]time.Duration{l, m}
	}))
	clk.Store(int64(40 * time.Millisecond)) // the slow one takes 40 ms
	release()
	require.Equal(t, [2]time.Duration{40 * time.Millisecond, 40 * time.Millisecond}, <-seen,
		"the second callback sees its own delay, from inside")

	d.push(d.fn(func() { // queued at 40 ms, runs at once
		l, m := d.delays()
		seen <- [2]time.Duration{l, m}
	}))
	require.Equal(t, [2]time.Duration{0, 40 * time.Millisecond}, <-seen, "on time; the max stays")
	last, largest = d.delays()
	require.Zero(t, last)
	require.Equal(t, 40*time.Millisecond, largest)
}

// leadershipRound pushes the events of one lost and regained leadership as
// the core emits them, and a log line, from a node that leads at term t-1.
func leadershipRound(d *funcDispatcher, t uint64) {
	d.push(event{kind: evLease, held: false, term: t - 1})
	d.push(event{kind: evState, from: StateLeader, to: StateFollower, term: t})
	d.push(event{kind: evLeader, leader: "other", term: t})
	d.push(event{kind: evLog, msg: "step " + strconv.FormatUint(t, 10)})
	d.push(event{kind: evState, from: StateFollower, to: StateCandidate, term: t + 1})
	d.push(event{kind: evState, from: StateCandidate, to: StateLeader, term: t + 1})
	d.push(event{kind: evLeader, leader: "me", term: t + 1})
	d.push(event{kind: evLease, held: true, term: t + 1})
}

// checkSequence checks what a consumer was told: state changes chain from
// the initial state, lease events alternate starting with a gain, and a
// lease is only ever held by a leader.
func checkSequence(t *testing.T, seen []event, initial State) {
	t.Helper()
	state, held := initial, false
	for i, e := range seen {
		switch e.kind {
		case evState:
			require.Equal(t, state, e.from, "event %d: state changes chain", i)
			require.NotEqual(t, e.from, e.to, "event %d", i)
			state = e.to
		case evLease:
			require.NotEqual(t, held, e.held, "event %d: lease events alternate", i)
			held = e.held
		}
		if held && e.kind != evLog {
			require.Equal(t, StateLeader, state, "event %d: a lease held by a %v", i, state)
		}
	}
}

func TestDispatcher_FullQueueCoalesces(t *testing.T) {
	// A consumer stuck in a callback while leadership moves 10,000 times:
	// the queue stays bounded, and once it returns it is told a consistent
	// story that ends where the node is: the latest state and leader, the
	// lease events paired, the newest log lines.
	d := newFuncDispatcher(t, func() time.Duration { return 0 })
	d.push(event{kind: evState, from: StateFollower, to: StateCandidate, term: 1})
	d.push(event{kind: evState, from: StateCandidate, to: StateLeader, term: 1})
	d.push(event{kind: evLease, held: true, term: 1})
	require.Eventually(t, func() bool { return len(d.events()) == 3 }, 5*time.Second, time.Millisecond)
	release := d.block()
	largest, largestCap := 0, 0
	for term := uint64(2); term < 20_000; term += 2 {
		leadershipRound(d, term)
		largest = max(largest, d.pending())
		d.mu.Lock()
		largestCap = max(largestCap, cap(d.queue))
		d.mu.Unlock()
	}
	d.push(event{kind: evLease, held: false, term: 19_999})
	d.push(event{kind: evState, from: StateLeader, to: StateFollower, term: 20_000})
	require.LessOrEqual(t, largest, callbackQueueLimit)
	require.LessOrEqual(t, largestCap, 2*callbackQueueLimit, "the memory held is bounded too")
	release()
	require.Eventually(t, func() bool { return d.pending() == 0 }, 5*time.Second, time.Millisecond)

	seen := d.events()
	checkSequence(t, seen, StateFollower)
	require.Less(t, len(seen), callbackQueueLimit, "coalesced")
	last := seen[len(seen)-1]
	require.Equal(t, event{kind: evState, from: StateLeader, to: StateFollower, term: 20_000}, last)
	var leader event
	for _, e := range seen {
		if e.kind == evLeader {
			leader = e
		}
	}
	require.Equal(t, "me", leader.leader, "the latest leader")
	require.Equal(t, uint64(19_999), leader.term)
	pushed := uint64(3 + 1 + 8*9_999 + 2)
	require.Equal(t, pushed, uint64(len(seen))+1+d.dropped.Load(), "every push is run or counted as dropped")
}

func TestDispatcher_StopDropsTheQueueButOwedEvents(t *testing.T) {
	// At stop the queue is dropped and counted, but a consumer told it
	// holds a lease is told of its loss, and the final change to closed
	// starts where the consumer was left. stop waits for nothing.
	d := newFuncDispatcher(t, func() time.Duration { return 0 })
	d.push(event{kind: evState, from: StateFollower, to: StateCandidate, term: 1})
	d.push(event{kind: evState, from: StateCandidate, to: StateLeader, term: 1})
	d.push(event{kind: evLease, held: true, term: 1, deadline: 5})
	require.Eventually(t, func() bool { return len(d.events()) == 3 }, 5*time.Second, time.Millisecond)
	release := d.block()
	for term := uint64(2); term < 50; term += 2 {
		leadershipRound(d, term)
	}
	stopped := make(chan struct{})
	go func() {
		d.stop(event{kind: evLease, held: false, term: 49}, event{kind: evState, from: StateLeader, to: StateClosed, term: 49})
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stop waited for the running callback")
	}
	d.push(event{kind: evLog, msg: "after stop"})
	release()
	d.wait()
	require.Equal(t, []event{
		{kind: evState, from: StateFollower, to: StateCandidate, term: 1},
		{kind: evState, from: StateCandidate, to: StateLeader, term: 1},
		{kind: evLease, held: true, term: 1, deadline: 5},
		{kind: evLease, held: false, term: 1}, // the loss owed, the first one queued
		{kind: evState, from: StateLeader, to: StateClosed, term: 49},
	}, d.events())
	require.Equal(t, uint64(8*24+2-2), d.dropped.Load())
}

func TestDispatcher_StopOwesNothingForAnUnseenLease(t *testing.T) {
	d := newFuncDispatcher(t, func() time.Duration { return 0 })
	release := d.block()
	d.push(event{kind: evState, from: StateFollower, to: StateCandidate, term: 1})
	d.push(event{kind: evState, from: StateCandidate, to: StateLeader, term: 1})
	d.push(event{kind: evLease, held: true, term: 1})
	d.stop(event{kind: evLease, held: false, term: 1}, event{kind: evState, from: StateLeader, to: StateClosed, term: 1})
	release()
	d.wait()
	require.Equal(t, []event{{kind: evState, from: StateFollower, to: StateClosed, term: 1}}, d.events(),
		"the gain and its loss both dropped; the close starts where the consumer was left")
	require.Equal(t, uint64(4), d.dropped.Load())
}
