package transport

import (
	"sync"
	"time"
)

// reporter rate-limits the report callback: at most one call per interval
// per Reason. Everything is counted in Stats regardless; the callback only
// tells the user that something is going on.
type reporter struct {
	interval time.Duration

	mu   sync.Mutex
	fn   func(error) // set by Start; nil: nothing is reported
	last [numReasons]time.Time
}

// report passes err to the callback unless a report of the same reason
// was made less than interval ago. The callback runs on the caller's
// goroutine, outside the lock; it must not block (election.Transport).
func (r *reporter) report(reason Reason, err error) {
	if int(reason) >= numReasons {
		return
	}
	now := time.Now()
	r.mu.Lock()
	fn := r.fn
	if fn == nil || !r.last[reason].IsZero() && now.Sub(r.last[reason]) < r.interval {
		r.mu.Unlock()
		return
	}
	r.last[reason] = now
	r.mu.Unlock()
	fn(err)
}

// setFn installs the callback (Start).
func (r *reporter) setFn(fn func(error)) {
	r.mu.Lock()
	r.fn = fn
	r.mu.Unlock()
}
