package checker

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Lease is one interval in which a node held the lease, by its own
// account (graft_node_lease, polled): From is the return of the first poll
// that saw it, To its latest deadline in real time, or the return of the
// node's own successful step-down if that came first, cut at END. See the
// package comment for why these bounds are the right ones.
type Lease struct {
	Node     string
	Term     uint64
	From, To int64 // CLOCK_MONOTONIC ns
}

// Dur is the length of the lease.
func (l Lease) Dur() time.Duration { return time.Duration(l.To - l.From) }

// clockOf is the clock a node process reported its deadlines in: rate
// times CLOCK_MONOTONIC from an anchor somewhere in [a0, a1].
type clockOf struct {
	rate   float64
	a0, a1 int64
}

// real converts deadline d of the node's clock to CLOCK_MONOTONIC. The
// library anchors its skewed clock at an unknown instant a inside
// graft_node_new, a0 <= a <= a1; the real instant a + (d-a)/rate grows with
// a when rate > 1 and shrinks with it when rate < 1, so the later of the
// two ends is taken: a lease is never made shorter than it was.
func (c clockOf) real(d int64) int64 {
	if c.rate == 1 {
		return d
	}
	conv := func(a int64) int64 { return a + int64(float64(d-a)/c.rate) }
	return max(conv(c.a0), conv(c.a1))
}

func clockFrom(start Line) clockOf {
	c := clockOf{rate: start.Float("rate", 1), a0: start.Int("anchor")}
	if c.rate <= 0 {
		c.rate = 1
	}
	c.a1 = c.a0
	if _, ok := start.Fields["anchor1"]; ok {
		c.a1 = start.Int("anchor1")
	}
	return c
}

// stepDown is a successful graft_node_step_down: called at T0, returned at
// T (the lease had ended by then), while the node was at Term. End is when
// the lease it gave up ended, by the node's own account: the application
// stops acting when it calls step-down (T0), and the library reported the
// lease until Last, the last poll that saw it before the step-down's first
// NOLEAD; End is the later of the two. Without such a NOLEAD (the process
// died first) End is T. A thread or process that stalls between the
// step-down's effect and its return (seen: 6 ms on a loaded machine)
// therefore does not stretch the lease.
type stepDown struct {
	T0, T, End int64
	Term       uint64
}

// pollStart is the instant a LEAD or NOLEAD line's poll began (t0; t in
// logs written before t0 existed).
func pollStart(l Line) int64 {
	if _, ok := l.Fields["t0"]; ok {
		return l.Int("t0")
	}
	return l.T
}

func stepDowns(lines []Line) []stepDown {
	var out []stepDown
	for _, l := range lines {
		if l.Kind != "STEPDOWN" || l.Fields["rc"] != "0" {
			continue
		}
		s := stepDown{T0: l.Int("t0"), T: l.T, End: l.T, Term: l.Uint("term")}
		// The poller may log the NOLEAD before the step-down returns, and
		// a poll begun before the step-down may return after it, having
		// read the lease after the step-down ended it (a poll of 1.3 ms
		// was seen on a loaded machine): the NOLEAD that ends this lease
		// is the first to return after the step-down was called, before
		// any poll saw a lease of another term. (Looking for one that
		// began after the call skipped that NOLEAD and took the next
		// lease's, stretching this lease over its successor's.)
		for _, n := range lines {
			if (n.Kind == "START" || n.Kind == "KILLED") && n.T > s.T0 || n.Kind == "LEAD" && n.T > s.T0 && n.Uint("term") != s.Term {
				break
			}
			if _, ok := n.Fields["last"]; ok && n.Kind == "NOLEAD" && n.T > s.T0 {
				s.End = max(s.T0, n.Int("last"))
				break
			}
		}
		out = append(out, s)
	}
	return out
}

// leases turns a node's LEAD lines into its lease intervals, cut at end.
func (r *Report) leases(id string, lines []Line, end int64) []Lease {
	var out []Lease
	sds := stepDowns(lines)
	clk := clockOf{rate: 1}
	for i, l := range lines {
		switch l.Kind {
		case "START":
			clk = clockFrom(l)
		case "LEAD":
			if l.T >= end {
				continue
			}
			d := l.Int("deadline")
			var to int64
			if d <= 0 || d-l.T > unboundedAfter {
				r.UnboundedLeases++
				to = end
				for _, n := range lines[i+1:] {
					if n.Kind == "NOLEAD" || n.Kind == "KILLED" || n.Kind == "START" || n.Kind == "CLOSING" ||
						n.Kind == "STEPDOWN" && n.Fields["rc"] == "0" {
						to = n.T
						break
					}
				}
			} else {
				to = clk.real(d)
				r.LongestLease = max(r.LongestLease, time.Duration(to-l.T))
			}
			// The first step-down in this term that returned after this
			// poll began ended the lease (a poll that began before it
			// returned may log its answer after it).
			for _, s := range sds {
				if s.T > pollStart(l) && s.Term == l.Uint("term") {
					to = min(to, s.End)
					break
				}
			}
			// An answer logged after the lease had ended adds nothing.
			if to = min(to, end); to > l.T {
				out = append(out, Lease{Node: id, Term: l.Uint("term"), From: l.T, To: to})
			}
		}
	}
	return merge(out)
}

// checkReLead: a node that stepped down in a term must never lead that
// term again (a late vote of its old candidacy re-elected it: issue 12,
// F1). Evidence: a state change to leader of that term, or a lease of
// that term first seen by a poll begun after the step-down returned.
func (r *Report) checkReLead(id string, lines []Line) {
	for _, s := range stepDowns(lines) {
		for _, l := range lines {
			again := l.Kind == "STATE" && l.Fields["to"] == "leader" && l.T > s.T ||
				l.Kind == "LEAD" && pollStart(l) > s.T
			if again && l.Uint("term") == s.Term {
				r.ReLeads = append(r.ReLeads, fmt.Sprintf("%s led term %d again at t=%d (%s) after stepping down in it at t=%d",
					id, s.Term, l.T, l.Kind, s.T))
				break
			}
		}
	}
}

// merge unites the overlapping intervals of one node and one term into
// leases: from the first poll that saw the lease to its latest deadline.
func merge(ls []Lease) []Lease {
	s := slices.Clone(ls)
	sort.SliceStable(s, func(i, j int) bool { return s[i].From < s[j].From })
	var out []Lease
	for _, c := range s {
		if n := len(out); n > 0 && c.From <= out[n-1].To && c.Term == out[n-1].Term {
			out[n-1].To = max(out[n-1].To, c.To)
			continue
		}
		out = append(out, c)
	}
	return out
}

func intersect(a, b []Lease) []Overlap {
	var out []Overlap
	for _, x := range a {
		for _, y := range b {
			from, to := max(x.From, y.From), min(x.To, y.To)
			if to > from {
				out = append(out, Overlap{A: x.Node, B: y.Node, TermA: x.Term, TermB: y.Term, From: from, To: to})
			}
		}
	}
	return out
}
