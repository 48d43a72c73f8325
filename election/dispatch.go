package election

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// callbackQueueLimit bounds the callbacks waiting to run. The election loop
// must never block, so a push that finds the queue full does not wait: it
// coalesces the queue (coalesce.go) to what a slow consumer still needs,
// the latest state and leader, the lease events it has not seen cancelled,
// and the newest errors and log lines. So a callback that takes a second
// while leadership moves a thousand times a second costs a bounded queue
// and a bounded delay, not memory and hours of stale callbacks.
const callbackQueueLimit = 256

// dispatcher runs callbacks in order, one at a time, on a goroutine of its
// own, so that the election loop never waits for the application. It
// queues events, not closures, so that a full queue can be coalesced and a
// closing node can keep only what the application must still be told.
//
// Each callback's delay, from the instant it was queued to the instant it
// starts, is kept (the last and the largest) for Stats: a slow callback
// shows as a large delay of the ones after it.
type dispatcher struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []queued
	closing bool
	// What the application was last told, updated as a callback is taken
	// from the queue: the state its last state change led to, and whether
	// its last lease event was a gain (a loss is then owed to it).
	told     State
	toldHeld bool

	done    chan struct{}
	gid     atomic.Uint64 // the goroutine running callbacks
	now     func() time.Duration
	deliver func(event)
	onPanic func(any)

	dropped atomic.Uint64 // callbacks never run: coalesced, or queued at stop

	// Written only by the dispatcher goroutine, read by anyone.
	delayLast atomic.Int64 // of the callback running now, or last run
	delayMax  atomic.Int64
	atLast    atomic.Int64 // the event.at of the callback running now, or last run
}

// queued is an event for a callback and the instant (of the node's Clock)
// it was queued.
type queued struct {
	e  event
	at time.Duration
}

// callbackGoroutines holds the ids of every dispatcher goroutine of the
// process: a Close called from any node's callback must not wait for
// callbacks (two callbacks closing each other's node would wait forever).
var callbackGoroutines sync.Map // uint64 -> struct{}

// newDispatcher starts the callback goroutine. now is the node's Clock,
// read once per push and once per callback run; deliver calls the
// application's callback for an event; initial is the node's state before
// its first state change.
func newDispatcher(now func() time.Duration, deliver func(event), onPanic func(any), initial State) *dispatcher {
	d := &dispatcher{done: make(chan struct{}), now: now, deliver: deliver, onPanic: onPanic, told: initial}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

// push queues e, stamped with the current time, coalescing the queue when
// it is full; after stop it is discarded. An event the core did not stamp
// (an error or log line from outside the loop: at zero) takes the instant
// it was queued as the instant it happened.
func (d *dispatcher) push(e event) {
	at := d.now()
	if e.at == 0 {
		e.at = at
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return
	}
	if len(d.queue) >= callbackQueueLimit {
		d.queue = d.coalesce(d.queue)
	}
	d.queue = append(d.queue, queued{e: e, at: at})
	d.cond.Signal()
}

// eventAt returns the instant the core emitted the event of the callback
// running now (or of the last one run); zero before the first callback.
func (d *dispatcher) eventAt() time.Duration { return time.Duration(d.atLast.Load()) }

// EventAt returns the instant of the node's Clock at which the node's core
// emitted the event whose callback (OnStateChange, OnLeaderChange,
// OnLease, OnError or OnLog) runs now: the instant of the step or timer
// tick that produced it, before it waited in the callback queue. With
// SystemClock, MonotonicAt(EventAt()) is that instant as a time.Time, on
// the clock of Lease.Deadline. Called from a callback of this node, it
// concerns that callback; from elsewhere, the callback running now or the
// last one run (zero before the first). The events of Close (the final
// loss of a lease and the change to StateClosed) carry the instant Close
// stopped the node.
func (n *Node) EventAt() time.Duration { return n.disp.eventAt() }

// delays returns the delay of the callback running now (or of the last one
// run) and the largest delay so far; zero before the first callback.
func (d *dispatcher) delays() (last, largest time.Duration) {
	return time.Duration(d.delayLast.Load()), time.Duration(d.delayMax.Load())
}

// pending returns the number of queued callbacks.
func (d *dispatcher) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queue)
}

func (d *dispatcher) run() {
	defer close(d.done)
	id := goroutineID()
	d.gid.Store(id)
	callbackGoroutines.Store(id, struct{}{})
	defer callbackGoroutines.Delete(id)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closing {
			d.cond.Wait()
		}
		if len(d.queue) == 0 {
			d.mu.Unlock()
			return
		}
		q := d.queue[0]
		d.queue[0] = queued{}
		d.queue = d.queue[1:]
		d.tell(q.e)
		d.mu.Unlock()
		d.atLast.Store(int64(q.e.at))
		d.record(max(d.now()-q.at, 0))
		d.call(q.e)
	}
}

// tell notes what e tells the application (d.mu held).
func (d *dispatcher) tell(e event) {
	switch e.kind {
	case evState:
		d.told = e.to
	case evLease:
		d.toldHeld = e.held
	}
}

// record publishes the delay of the callback about to run, before it runs,
// so that the callback itself sees it in Stats. Only the dispatcher
// goroutine writes, so a plain load and store keep the maximum.
func (d *dispatcher) record(delay time.Duration) {
	d.delayLast.Store(int64(delay))
	if int64(delay) > d.delayMax.Load() {
		d.delayMax.Store(int64(delay))
	}
}

func (d *dispatcher) call(e event) {
	defer func() {
		if p := recover(); p != nil && d.onPanic != nil {
			d.onPanic(p)
		}
	}()
	d.deliver(e)
}

// stop ends the dispatcher without waiting for it (wait does). The
// callbacks still queued are dropped and counted; what the application
// must still be told runs after the callback running now, if any: the loss
// of a lease it was told it holds, then final (see finalEvents). Events pushed
// afterwards are discarded. Idempotent.
func (d *dispatcher) stop(final ...event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return
	}
	d.closing = true
	at := d.now()
	for i := range final { // made by the close, now (the core's loss included)
		final[i].at = at
	}
	kept := d.finalEvents(d.queue, final)
	d.dropped.Add(uint64(len(d.queue) + len(final) - len(kept)))
	d.queue = d.queue[:0:0]
	for _, e := range kept {
		d.queue = append(d.queue, queued{e: e, at: at})
	}
	d.cond.Signal()
}

// wait returns once the dispatcher goroutine has ended (after stop): no
// callback runs again.
func (d *dispatcher) wait() { <-d.done }

// inCallback reports whether the caller runs on this dispatcher's
// goroutine.
func (d *dispatcher) inCallback() bool { return d.gid.Load() == goroutineID() }

// inAnyCallback reports whether the caller runs on the callback goroutine
// of any node of the process.
func inAnyCallback() bool {
	_, ok := callbackGoroutines.Load(goroutineID())
	return ok
}

// goroutineID returns the current goroutine's id. Go hides it on purpose;
// it is used only to tell a Close called from a callback, which must not
// wait for callbacks, from any other.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
