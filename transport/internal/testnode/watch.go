package main

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

// watched is the node's transport with a watch on the heartbeats: a
// leader sends one to each follower every heartbeat interval and each
// follower answers, so the gap between two heartbeats (or two answers)
// from one peer, less the interval, is how late the second one came. A
// lost one counts as a gap of two intervals.
type watched struct {
	*transport.QUIC
	interval time.Duration

	mu     sync.Mutex
	last   map[string]time.Time // peer -> arrival of its latest heartbeat or answer
	delays []time.Duration      // since the last take
}

func watch(q *transport.QUIC, interval time.Duration) *watched {
	return &watched{QUIC: q, interval: interval, last: map[string]time.Time{}}
}

// Start is the transport's, with deliver watched.
func (w *watched) Start(deliver func(election.Message), report func(error)) error {
	return w.QUIC.Start(func(m election.Message) {
		if m.Kind == election.MsgHeartbeat || m.Kind == election.MsgHeartbeatResp {
			w.note(m.From, time.Now())
		}
		deliver(m)
	}, report)
}

func (w *watched) note(from string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev, ok := w.last[from]; ok {
		w.delays = append(w.delays, max(0, now.Sub(prev)-w.interval))
	}
	w.last[from] = now
}

// take returns the number of delays noted since the last take and their
// median, 99th percentile and maximum, in µs, and starts anew.
func (w *watched) take() (n int, p50, p99, worst int64) {
	w.mu.Lock()
	d := w.delays
	w.delays = nil
	w.mu.Unlock()
	if len(d) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(d)
	us := func(x time.Duration) int64 { return x.Microseconds() }
	return len(d), us(d[len(d)/2]), us(d[len(d)*99/100]), us(d[len(d)-1])
}

// rssKB returns the process's resident set size in KiB (VmRSS), or -1.
func rssKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
