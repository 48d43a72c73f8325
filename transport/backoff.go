package transport

import (
	"math/rand/v2"
	"time"
)

// Reconnection delays. A restarted peer is usually back within a fraction of
// an election timeout, so the first retries are quick; a peer that stays
// down is probed about once a second, which costs one small Initial packet.
const (
	backoffMin = 25 * time.Millisecond
	backoffMax = time.Second
	// refusedMin is the first wait before redialling a peer that closed
	// our connection as a duplicate's (dialer.go).
	refusedMin = 100 * time.Millisecond
)

// backoff computes exponential reconnection delays with jitter: the n-th
// delay is drawn uniformly from [d/2, d] where d = min(max, min*2^n), so
// nodes that lost a peer at the same moment do not retry in lockstep.
// It is not safe for concurrent use; each peer owns one.
type backoff struct {
	min, max time.Duration
	n        int
	rand     func() float64 // in [0, 1); rand.Float64 when nil
}

// next returns the delay before the next attempt and advances the sequence.
func (b *backoff) next() time.Duration {
	d := b.max
	if b.n < 32 {
		if e := b.min << b.n; e > 0 && e < b.max {
			d = e
		}
	}
	b.n++
	r := rand.Float64
	if b.rand != nil {
		r = b.rand
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

// reset starts the sequence again from min (after a successful connection).
func (b *backoff) reset() { b.n = 0 }
