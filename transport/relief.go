package transport

import (
	"runtime/debug"
	"sync"
	"time"
)

// Memory back after a flood (issue 18). A flood makes quic-go allocate
// packet buffers, Retry packets and the state of the handshakes admitted
// (admit.go), a few MiB; the Go runtime keeps most of what it freed for
// minutes, so the process stayed that much larger long after the flood.
// Once the admission control has seen no sign of load (a Retry asked or
// an attempt refused) for reliefQuiet, by when the handshakes admitted
// during the flood have ended (they get 2*handshakeTimeout), the transport
// returns the freed memory to the operating system (debug.FreeOSMemory:
// one garbage collection and a scavenge of the whole process, 4-13 ms on
// this machine), at most once per reliefInterval in the process, whatever
// the number of transports: a library must not make its host collect over
// and over. Figures: docs/transport.md, "Floods".
const (
	reliefQuiet    = 2*handshakeTimeout + 500*time.Millisecond
	reliefInterval = 5 * time.Second
)

// reliefClock is when memory was last returned.
type reliefClock struct {
	sync.Mutex
	at time.Time
}

// processRelief is when the process last returned its memory for a flood.
var processRelief reliefClock

// relief returns memory to the OS once a flood is over. Its methods are
// safe for concurrent use.
type relief struct {
	free            func()        // debug.FreeOSMemory; tests count calls instead
	last            *reliefClock  // &processRelief; tests have their own
	quiet, interval time.Duration // reliefQuiet, reliefInterval; tests shorten them

	mu      sync.Mutex
	loadAt  time.Time // the last sign of load
	timer   *time.Timer
	stopped bool
}

func newRelief() *relief {
	return &relief{free: debug.FreeOSMemory, last: &processRelief, quiet: reliefQuiet, interval: reliefInterval}
}

// loaded notes a sign of load now; the memory is returned r.quiet after
// the last one.
func (r *relief) loaded() {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadAt = now
	if r.timer == nil && !r.stopped {
		r.timer = time.AfterFunc(r.quiet, r.check)
	}
}

// check returns the memory if the load is over and the process did not
// return it within r.interval, else waits on.
func (r *relief) check() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	wait := time.Until(r.loadAt.Add(r.quiet))
	r.last.Lock()
	if wait <= 0 {
		wait = time.Until(r.last.at.Add(r.interval))
	}
	if wait > 0 {
		r.last.Unlock()
		r.timer = time.AfterFunc(wait, r.check)
		r.mu.Unlock()
		return
	}
	r.last.at = time.Now()
	r.last.Unlock()
	r.timer = nil
	r.mu.Unlock()
	r.free()
}

// stop cancels a pending return (Close).
func (r *relief) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
	}
}
