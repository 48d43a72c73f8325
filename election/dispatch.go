package election

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// dispatcher runs callbacks in order, one at a time, on a goroutine of its
// own, so that the election loop never waits for the application. Its
// queue is unbounded: the loop must not block, and events are few (a
// handful per election), so memory is not at risk.
//
// Each callback's delay, from the instant it was queued to the instant it
// starts, is kept (the last and the largest) for Stats: a slow callback
// shows as a large delay of the ones after it.
type dispatcher struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []queued
	closing bool
	done    chan struct{}
	gid     atomic.Uint64 // the goroutine running callbacks
	now     func() time.Duration
	onPanic func(any)

	// Written only by the dispatcher goroutine, read by anyone.
	delayLast atomic.Int64 // of the callback running now, or last run
	delayMax  atomic.Int64
}

// queued is a callback and the instant (of the node's Clock) it was queued.
type queued struct {
	f  func()
	at time.Duration
}

// newDispatcher starts the callback goroutine. now is the node's Clock,
// read once per push and once per callback run.
func newDispatcher(now func() time.Duration, onPanic func(any)) *dispatcher {
	d := &dispatcher{done: make(chan struct{}), now: now, onPanic: onPanic}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

// push queues f, stamped with the current time; after stop it is
// discarded.
func (d *dispatcher) push(f func()) {
	at := d.now()
	d.mu.Lock()
	if !d.closing {
		d.queue = append(d.queue, queued{f: f, at: at})
		d.cond.Signal()
	}
	d.mu.Unlock()
}

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
	d.gid.Store(goroutineID())
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
		d.mu.Unlock()
		d.record(max(d.now()-q.at, 0))
		d.call(q.f)
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

func (d *dispatcher) call(f func()) {
	defer func() {
		if p := recover(); p != nil && d.onPanic != nil {
			d.onPanic(p)
		}
	}()
	f()
}

// stop runs what is queued, then ends the goroutine and waits for it.
// Once stop returns no callback runs again.
func (d *dispatcher) stop() {
	d.mu.Lock()
	d.closing = true
	d.cond.Signal()
	d.mu.Unlock()
	<-d.done
}

// inCallback reports whether the caller runs on the dispatcher goroutine.
func (d *dispatcher) inCallback() bool { return d.gid.Load() == goroutineID() }

// goroutineID returns the current goroutine's id. Go hides it on purpose;
// it is used only to refuse Close from inside a callback, which would
// otherwise wait for itself forever.
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
