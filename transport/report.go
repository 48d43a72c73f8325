package transport

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Reports and log lines, rate-limited per subject. Everything is counted
// in Stats regardless; the report callback and Logf only tell the user
// that something is going on. A limit per reason alone let one stranger's
// packet a second own the only report of a reason and hide a peer's (issue
// 18), so the limit is per reason and subject: the peer concerned, else
// the source (see subject).

// logBurst is how many lines of one kind about one peer Logf receives in
// a row before the limit of one per Config.ErrorInterval applies.
const logBurst = 5

// maxSubjects bounds the subjects a limiter tracks. Beyond them, new
// subjects share one budget per reason (or kind of line), so a stranger
// who varies its address can neither grow the table nor multiply the
// reports.
const maxSubjects = 256

// limiter allows, per key, burst events in a row and then one per interval
// (a token bucket). Its owner serialises the calls.
type limiter[K comparable] struct {
	interval  time.Duration
	burst     float64
	overflow  func(K) K // the shared key of k's kind, for keys beyond maxSubjects
	buckets   map[K]*bucket
	lastPrune time.Time
}

type bucket struct {
	tokens     float64
	at         time.Time
	suppressed int // events refused since the last one allowed
}

// refill adds the tokens earned since the bucket's last use.
func (b *bucket) refill(now time.Time, interval time.Duration, burst float64) {
	if interval > 0 {
		b.tokens = min(burst, b.tokens+float64(now.Sub(b.at))/float64(interval))
	} else {
		b.tokens = burst
	}
	b.at = now
}

// allow reports whether an event of key may pass now, and if so how many
// of key's events were refused before it.
func (l *limiter[K]) allow(key K, now time.Time) (bool, int) {
	if l.buckets == nil {
		l.buckets = make(map[K]*bucket)
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxSubjects && now.Sub(l.lastPrune) >= l.interval {
			l.prune(now)
		}
		if len(l.buckets) >= maxSubjects {
			key = l.overflow(key)
			b = l.buckets[key]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, at: now}
			l.buckets[key] = b
		}
	}
	b.refill(now, l.interval, l.burst)
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	n := b.suppressed
	b.suppressed = 0
	return true, n
}

// prune forgets the keys whose bucket is full again: they would allow as
// much as a new key.
func (l *limiter[K]) prune(now time.Time) {
	l.lastPrune = now
	for k, b := range l.buckets {
		b.refill(now, l.interval, l.burst)
		if b.tokens >= l.burst && b.suppressed == 0 {
			delete(l.buckets, k)
		}
	}
}

// gate passes rate-limited calls to a callback between open and stop, and
// stop waits for the calls in progress: nothing is called after Close,
// also from goroutines that Close does not wait for (quic-go's).
type gate[K comparable] struct {
	mu    sync.Mutex
	lim   limiter[K]
	open  bool // between open and stop
	calls sync.WaitGroup
}

// start lets calls pass; set, if given, runs first under the gate's lock
// (it installs the callback, which enter's lock then publishes).
func (g *gate[K]) start(set func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if set != nil {
		set()
	}
	g.open = true
}

// enter reports whether a call of key may be made now (then the caller
// must call leave after it), and how many of key's calls were refused
// before it.
func (g *gate[K]) enter(key K) (bool, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		return false, 0
	}
	ok, n := g.lim.allow(key, time.Now())
	if ok {
		g.calls.Add(1)
	}
	return ok, n
}

func (g *gate[K]) leave() { g.calls.Done() }

// stop refuses every later call and waits for those in progress.
func (g *gate[K]) stop() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
	g.calls.Wait()
}

// reportKey is the subject of a report.
type reportKey struct {
	reason Reason
	who    string // a peer id, "ip <addr>" or "" (see subject)
}

// reporter rate-limits the report callback: at most one call per
// interval per reason and subject.
type reporter struct {
	fn func(error) // set by start; nil: nothing is reported
	g  gate[reportKey]
}

func newReporter(interval time.Duration) *reporter {
	r := &reporter{}
	r.g.lim = limiter[reportKey]{interval: interval, burst: 1,
		overflow: func(k reportKey) reportKey { return reportKey{k.reason, "others"} }}
	return r
}

// start installs the callback (Start); nil reports nothing.
func (r *reporter) start(fn func(error)) {
	if fn != nil {
		r.g.start(func() { r.fn = fn })
	}
}

// report passes e to the callback unless the limit of its reason and
// subject (who) refuses it. The callback runs on the caller's goroutine
// and must not block (election.Transport).
func (r *reporter) report(e *DropError, who string) {
	if ok, _ := r.g.enter(reportKey{e.Reason, who}); ok {
		defer r.g.leave()
		r.fn(e)
	}
}

// logKey is the subject of a log line: its format and the peer.
type logKey struct{ format, peer string }

// logger rate-limits Config.Logf: logBurst lines of one format about one
// peer, then one per interval; the next line that passes says how many
// were left out.
type logger struct {
	fn func(format string, args ...any) // nil: nothing is logged
	g  gate[logKey]
}

func newLogger(fn func(string, ...any), interval time.Duration) *logger {
	l := &logger{fn: fn}
	l.g.lim = limiter[logKey]{interval: interval, burst: logBurst,
		overflow: func(k logKey) logKey { return logKey{k.format, "others"} }}
	if fn != nil {
		l.g.start(nil)
	}
	return l
}

// logf passes line (already formatted from format) to the callback,
// printable, unless the limit of format and peer refuses it.
func (l *logger) logf(peer, format, line string) {
	ok, n := l.g.enter(logKey{format, peer})
	if !ok {
		return
	}
	defer l.g.leave()
	if n > 0 {
		line += fmt.Sprintf(" (%d similar lines left out)", n)
	}
	l.fn("%s", printable(line))
}

// subject names whom a report is about, for its rate limit: the peer id
// if known, else the peer at address remote (resolve.go: a peer dials
// from the address it listens on, which a stranger on the same host cannot
// use), else the source IP ("ip 10.0.0.5"), else "".
func (q *QUIC) subject(peer, remote string) string {
	if peer != "" {
		return peer
	}
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		if id, ok := q.book.at(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())); ok {
			return id
		}
	}
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return "ip " + host
	}
	return ""
}
