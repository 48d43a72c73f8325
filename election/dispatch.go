package election

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// dispatcher runs callbacks in order, one at a time, on a goroutine of its
// own, so that the election loop never waits for the application. Its
// queue is unbounded: the loop must not block, and events are few (a
// handful per election), so memory is not at risk.
type dispatcher struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []func()
	closing bool
	done    chan struct{}
	gid     atomic.Uint64 // the goroutine running callbacks
	onPanic func(any)
}

func newDispatcher(onPanic func(any)) *dispatcher {
	d := &dispatcher{done: make(chan struct{}), onPanic: onPanic}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

// push queues f; after stop it is discarded.
func (d *dispatcher) push(f func()) {
	d.mu.Lock()
	if !d.closing {
		d.queue = append(d.queue, f)
		d.cond.Signal()
	}
	d.mu.Unlock()
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
		f := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.mu.Unlock()
		d.call(f)
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
