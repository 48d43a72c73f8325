package checker

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Params are the bounds a run is held to.
type Params struct {
	// ElectionMax is the nodes' maximum election timeout. Required.
	ElectionMax time.Duration
	// Tolerance is the overlap of two leases that is not reported. Zero
	// (the default) reports every overlap: each bound of a lease is
	// already taken on the side that can only shorten a true overlap or
	// lengthen the lease (package comment).
	Tolerance time.Duration
	// FailoverBound is the longest acceptable time from a heal to a
	// leader holding a lease. Default 10 × ElectionMax.
	FailoverBound time.Duration
	// RejoinWindow is how long after a heal a higher term counts as a
	// disruption by the rejoining node. Default 5 × ElectionMax.
	RejoinWindow time.Duration
	// TimerSlack is how late a lease loss due at its deadline may be
	// queued for its callback: the lateness of the library's deadline
	// timer, the callback delay itself excluded (events.go). Default
	// DefaultTimerSlack.
	TimerSlack time.Duration
}

// DefaultTimerSlack bounds the lateness of the library's deadline timer
// (the loss queued for its callback after the deadline). The timer is the
// node's own: a loss was queued 46 µs after the deadline in a short run,
// and 0.8-1.2 ms after a SIGCONT (the runtime waking up); the bound leaves
// room for a loaded two-core machine while still failing a loss that
// waits for the next check-quorum tick (up to a heartbeat, 20 ms in the
// fault tests) or a later one.
const DefaultTimerSlack = 10 * time.Millisecond

func (p Params) withDefaults() Params {
	if p.FailoverBound == 0 {
		p.FailoverBound = 10 * p.ElectionMax
	}
	if p.RejoinWindow == 0 {
		p.RejoinWindow = 5 * p.ElectionMax
	}
	if p.TimerSlack == 0 {
		p.TimerSlack = DefaultTimerSlack
	}
	return p
}

// Overlap is a stretch of time claimed by two nodes at once.
type Overlap struct {
	A, B         string
	TermA, TermB uint64
	From, To     int64
}

// Dur is the length of the overlap.
func (o Overlap) Dur() time.Duration { return time.Duration(o.To - o.From) }

// Failover is the time from the heal of fault N to a leader.
type Failover struct {
	N            int    // fault number in events.log
	Kind         string // fault kind
	Heal         int64  // CLOCK_MONOTONIC ns of the heal
	LeaderAtHeal bool   // a lease was held at the heal (Took is 0)
	Found        bool   // a leader appeared before the next fault
	Took         time.Duration
	// Outage is the longest time without a live leader from the fault's
	// injection to the next fault (or the end): the failover time when
	// the fault removed the leader, 0 when it did not.
	Outage time.Duration
}

// Disruption is a term raised after a heal while a leader was in office.
type Disruption struct {
	N       int
	Kind    string
	Leader  string // in office at the heal
	Term    uint64 // its term
	By      string // the node that logged the higher term
	NewTerm uint64
	After   time.Duration // since the heal
}

// Report is what Check found.
type Report struct {
	Params         Params
	LeadersPerTerm map[uint64][]string // every term that had a leader
	MultiLeader    []uint64            // terms with more than one leader
	Overlaps       []Overlap           // longer than Tolerance
	ReLeads        []string            // a node led a term again after stepping down in it
	MaxOverlap     time.Duration       // longest of any length
	// MinHandover is the shortest time between the end of one node's
	// lease and the start of another's: the safety margin of the closest
	// handover (-1 when there was none).
	MinHandover     time.Duration
	TermErrors      []string // a term that went down
	Failovers       []Failover
	Disruptions     []Disruption
	Problems        []string           // missing START, heal without leader, ...
	Leases          map[string][]Lease // each node's lease intervals
	UnboundedLeases int                // LEAD lines without a meaningful deadline
	// LongestLease is the longest time from a LEAD line to its deadline
	// (real time): a lease never lasts longer than ElectionMin.
	LongestLease time.Duration
	// StepDowns are the successful step-downs of handover mode, each as
	// the time from the node's election to the step-down's return.
	StepDowns []time.Duration

	// The lease events (events.go): each node's leases as an event-driven
	// application sees them, their overlaps across nodes (longer than
	// Tolerance) and the longest of any length, the closest handover
	// between them (-1 when none), the LEASE lines read, pairing errors,
	// and how late each loss due at its deadline ran.
	EventLeases      map[string][]Lease
	EventOverlaps    []Overlap
	MaxEventOverlap  time.Duration
	MinEventHandover time.Duration
	LeaseEvents      int
	Unpaired         []string
	LostDelays       []LostDelay
	LateLosses       []string // queued more than TimerSlack after the deadline
}

// Violations lists every broken guarantee, one sentence each; empty when
// the run passed.
func (r *Report) Violations() []string {
	var v []string
	for _, t := range r.MultiLeader {
		v = append(v, fmt.Sprintf("term %d had %d leaders: %s", t, len(r.LeadersPerTerm[t]), strings.Join(r.LeadersPerTerm[t], ",")))
	}
	for _, o := range r.Overlaps {
		v = append(v, fmt.Sprintf("%s (term %d) and %s (term %d) both held a lease for %s at t=%d", o.A, o.TermA, o.B, o.TermB, o.Dur(), o.From))
	}
	for _, o := range r.EventOverlaps {
		v = append(v, fmt.Sprintf("by their lease events, %s (term %d) and %s (term %d) both led for %s at t=%d", o.A, o.TermA, o.B, o.TermB, o.Dur(), o.From))
	}
	v = append(v, r.Unpaired...)
	v = append(v, r.LateLosses...)
	v = append(v, r.ReLeads...)
	v = append(v, r.TermErrors...)
	v = append(v, failoverViolations(r.Failovers, r.Params.FailoverBound, "leader", "leader")...)
	for _, d := range r.Disruptions {
		v = append(v, fmt.Sprintf("fault %d (%s): %s raised the term to %d %s after the heal while %s led term %d",
			d.N, d.Kind, d.By, d.NewTerm, d.After.Round(time.Microsecond), d.Leader, d.Term))
	}
	return append(v, r.Problems...)
}

// Summary is a few lines of figures.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "terms with a leader: %d, terms with >1 leader: %d\n", len(r.LeadersPerTerm), len(r.MultiLeader))
	fmt.Fprintf(&b, "lease overlaps > %s: %d (longest overlap of any length: %s)\n", r.Params.Tolerance, len(r.Overlaps), r.MaxOverlap)
	fmt.Fprintf(&b, "lease events: %d; event-lease overlaps > %s: %d (longest of any length: %s); closest handover by events: %s; unpaired: %d\n",
		r.LeaseEvents, r.Params.Tolerance, len(r.EventOverlaps), r.MaxEventOverlap, r.MinEventHandover, len(r.Unpaired))
	late, timer, queue := r.LostStats()
	fmt.Fprintf(&b, "losses at the deadline: %d, ran after it %s (timer %s, callback queue %s); queued > %s late: %d\n",
		len(r.LostDelays), StatsFine(late), StatsFine(timer), StatsFine(queue), r.Params.TimerSlack, len(r.LateLosses))
	fmt.Fprintf(&b, "terms led again after a step-down: %d\n", len(r.ReLeads))
	fmt.Fprintf(&b, "closest handover: %s; longest lease: %s\n", r.MinHandover, r.LongestLease)
	fmt.Fprintf(&b, "step-downs right after an election: %d, time from the election %s\n", len(r.StepDowns), Stats(r.StepDowns))
	fmt.Fprintf(&b, "term regressions: %d\n", len(r.TermErrors))
	all, fo := r.FailoverTimes()
	fmt.Fprintf(&b, "heals: %d, leader in office at heal: %d; failover after heal (all) %s; (no leader at heal, n=%d) %s\n",
		len(r.Failovers), len(r.Failovers)-len(fo), Stats(all), len(fo), Stats(fo))
	fmt.Fprintf(&b, "longest time without a leader per fault: %s\n", Stats(r.Outages()))
	fmt.Fprintf(&b, "rejoin disruptions: %d\n", len(r.Disruptions))
	return b.String()
}

// failoverViolations lists the heals not followed by what (a leader, a
// command) within bound: none is "no NONE after the heal", a late one
// "WHAT <time> after the heal".
func failoverViolations(fs []Failover, bound time.Duration, none, what string) []string {
	var v []string
	for _, f := range fs {
		switch {
		case !f.Found:
			v = append(v, fmt.Sprintf("fault %d (%s): no %s after the heal", f.N, f.Kind, none))
		case f.Took > bound:
			v = append(v, fmt.Sprintf("fault %d (%s): %s %s after the heal, bound %s", f.N, f.Kind, what, f.Took, bound))
		}
	}
	return v
}

// FailoverTimes returns the failover times of every heal with a leader
// found, and of those where no lease was held at the heal.
func (r *Report) FailoverTimes() (all, leaderless []time.Duration) {
	for _, f := range r.Failovers {
		if !f.Found {
			continue
		}
		all = append(all, f.Took)
		if !f.LeaderAtHeal {
			leaderless = append(leaderless, f.Took)
		}
	}
	return all, leaderless
}

// Outages returns the non-zero outages of every fault.
func (r *Report) Outages() []time.Duration {
	var out []time.Duration
	for _, f := range r.Failovers {
		if f.Outage > 0 {
			out = append(out, f.Outage)
		}
	}
	return out
}

// LostStats splits the losses at their deadline: how late each ran, how
// late its deadline timer queued it, and its own delay in the queue.
func (r *Report) LostStats() (late, timer, queue []time.Duration) {
	for _, d := range r.LostDelays {
		late, timer, queue = append(late, d.Late), append(timer, d.Timer()), append(queue, d.Queue)
	}
	return late, timer, queue
}

// Stats formats median, p99 and max of ds, to 0.1 ms.
func Stats(ds []time.Duration) string { return statsTo(ds, 100*time.Microsecond) }

// StatsFine formats median, p99 and max of ds, to the microsecond.
func StatsFine(ds []time.Duration) string { return statsTo(ds, time.Microsecond) }

func statsTo(ds []time.Duration, unit time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[int(math.Ceil(p*float64(len(s))))-1] }
	r := func(d time.Duration) time.Duration { return d.Round(unit) }
	return fmt.Sprintf("median %s p99 %s max %s", r(q(0.5)), r(q(0.99)), r(s[len(s)-1]))
}

// unboundedAfter: a deadline this far past its LEAD line means the lease
// is unbounded (check-quorum disabled).
const unboundedAfter = int64(time.Hour)

// rejoinKinds are the fault kinds whose heal brings a node back.
var rejoinKinds = map[string]bool{
	"partition": true, "oneway": true, "isolate": true, "kill": true, "pause": true, "skew": true,
}

// Check checks a run against p.
func Check(run *Run, p Params) *Report {
	p = p.withDefaults()
	r := &Report{Params: p, LeadersPerTerm: map[uint64][]string{}, Leases: map[string][]Lease{}, EventLeases: map[string][]Lease{}}
	end := endTime(run)

	ids := make([]string, 0, len(run.Nodes))
	for id := range run.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	leaders := map[uint64]map[string]bool{}
	addLeader := func(term uint64, id string) {
		if leaders[term] == nil {
			leaders[term] = map[string]bool{}
		}
		leaders[term][id] = true
	}
	for _, id := range ids {
		lines := run.Nodes[id]
		if len(lines) == 0 || lines[0].Kind != "START" {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: the log does not begin with START", id))
		}
		r.checkTerms(id, lines)
		r.checkReLead(id, lines)
		r.stepDownTimes(lines)
		r.Leases[id] = r.leases(id, lines, end)
		r.EventLeases[id] = r.eventLeases(id, lines, end)
		for _, c := range r.Leases[id] {
			addLeader(c.Term, id)
		}
		for _, l := range lines {
			if l.Kind == "STATE" && l.Fields["to"] == "leader" && l.T <= end {
				addLeader(l.Uint("term"), id)
			}
		}
	}
	for t, set := range leaders {
		for id := range set {
			r.LeadersPerTerm[t] = append(r.LeadersPerTerm[t], id)
		}
		sort.Strings(r.LeadersPerTerm[t])
		if len(set) > 1 {
			r.MultiLeader = append(r.MultiLeader, t)
		}
	}
	slices.Sort(r.MultiLeader)

	// Overlaps between every pair of nodes, in both views.
	r.Overlaps, r.MaxOverlap, r.MinHandover = compare(ids, r.Leases, end, p.Tolerance)
	r.EventOverlaps, r.MaxEventOverlap, r.MinEventHandover = compare(ids, r.EventLeases, end, p.Tolerance)

	r.checkHeals(run, ids, end)
	return r
}

// compare finds the overlaps of two nodes' leases longer than tol, the
// longest overlap of any length, and the closest handover: the shortest
// time from the end of one node's lease (before end) to the start of
// another's (-1 when there was none).
func compare(ids []string, leases map[string][]Lease, end int64, tol time.Duration) (over []Overlap, longest, closest time.Duration) {
	closest = -1
	for _, a := range ids {
		for _, b := range ids {
			if a == b {
				continue
			}
			for _, x := range leases[a] {
				for _, y := range leases[b] {
					if g := time.Duration(y.From - x.To); y.From >= x.To && x.To < end && (closest < 0 || g < closest) {
						closest = g
					}
				}
			}
		}
	}
	for i, a := range ids {
		for _, b := range ids[i+1:] {
			for _, o := range intersect(leases[a], leases[b]) {
				longest = max(longest, o.Dur())
				if o.Dur() > tol {
					over = append(over, o)
				}
			}
		}
	}
	return over, longest, closest
}

// Held reports whether node held a lease at t.
func (r *Report) Held(node string, t int64) bool {
	for _, l := range r.Leases[node] {
		if l.From <= t && t < l.To {
			return true
		}
	}
	return false
}

// stepDownTimes adds the time from the node's latest election to each of
// its successful step-downs right after an election (not those of a leader
// already in office when handover mode came on).
func (r *Report) stepDownTimes(lines []Line) {
	var elected int64 = -1
	for _, l := range lines {
		switch {
		case l.Kind == "STATE" && l.Fields["to"] == "leader":
			elected = l.T
		case l.Kind == "START":
			elected = -1
		case l.Kind == "STEPDOWN" && l.Fields["rc"] == "0" && l.Fields["kick"] != "1" && elected >= 0:
			r.StepDowns = append(r.StepDowns, time.Duration(l.T-elected))
			elected = -1
		}
	}
}

func endTime(run *Run) int64 {
	var last int64
	for _, e := range run.Events {
		if e.Kind == "END" {
			return e.T
		}
		last = max(last, e.T)
	}
	for _, lines := range run.Nodes {
		for _, l := range lines {
			last = max(last, l.T)
		}
	}
	return last
}

// checkTerms: within one process, the callbacks' terms and the poller's
// terms each never go down; across a restart, START's term is at least
// the highest term the previous process logged.
func (r *Report) checkTerms(id string, lines []Line) {
	var prevMax, curMax, cb, poll uint64
	var cbLine, pollLine Line
	for _, l := range lines {
		if _, ok := l.Fields["term"]; !ok {
			continue
		}
		t := l.Uint("term")
		switch l.Kind {
		case "START":
			prevMax = max(prevMax, curMax)
			if t < prevMax {
				r.TermErrors = append(r.TermErrors, fmt.Sprintf("%s restarted at t=%d with term %d below its earlier term %d", id, l.T, t, prevMax))
			}
			curMax, cb, poll = t, t, t
			continue
		case "STATE", "LEADER":
			if t < cb {
				r.TermErrors = append(r.TermErrors, fmt.Sprintf("%s: callback term went from %d (t=%d) down to %d (t=%d)", id, cb, cbLine.T, t, l.T))
			}
			cb, cbLine = max(cb, t), l
		case "TERM", "LEAD":
			if t < poll {
				r.TermErrors = append(r.TermErrors, fmt.Sprintf("%s: polled term went from %d (t=%d) down to %d (t=%d)", id, poll, pollLine.T, t, l.T))
			}
			poll, pollLine = max(poll, t), l
		}
		curMax = max(curMax, t)
	}
}

// holder returns the lease of a live node covering t, if any: a lease of
// a node killed after it began (KILLED line in (From, t]) still counts for
// overlaps, the lease being what it promised, but nobody holds that office
// any more.
func (r *Report) holder(run *Run, ids []string, t int64) (Lease, bool) {
	for _, id := range ids {
		for _, c := range r.Leases[id] {
			if c.From <= t && t < c.To && !killedBetween(run.Nodes[id], c.From, t) {
				return c, true
			}
		}
	}
	return Lease{}, false
}

func killedBetween(lines []Line, from, to int64) bool {
	for _, l := range lines {
		if l.Kind == "KILLED" && l.T > from && l.T <= to {
			return true
		}
	}
	return false
}

// outage is the longest stretch of [from, to) in which no live node held a
// lease.
func (r *Report) outage(run *Run, ids []string, from, to int64) time.Duration {
	var cs []Lease
	for _, id := range ids {
		for _, c := range r.Leases[id] {
			// A killed node's lease ends, for this purpose, at its death.
			for _, l := range run.Nodes[id] {
				if l.Kind == "KILLED" && l.T > c.From && l.T < c.To {
					c.To = l.T
					break
				}
			}
			if c.To > from && c.From < to {
				cs = append(cs, c)
			}
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].From < cs[j].From })
	var longest int64
	at := from
	for _, c := range cs {
		if c.From > at {
			longest = max(longest, c.From-at)
		}
		at = max(at, c.To)
	}
	longest = max(longest, to-at)
	return time.Duration(longest)
}

// checkHeals measures the time to a leader after each heal and looks for
// rejoin disruptions.
func (r *Report) checkHeals(run *Run, ids []string, end int64) {
	for i, e := range run.Events {
		if e.Kind != "HEAL" {
			continue
		}
		h := e.T
		limit := end
		for _, n := range run.Events[i+1:] {
			if n.Kind == "FAULT" {
				limit = n.T
				break
			}
		}
		f := Failover{N: int(e.Int("n")), Kind: e.Fields["kind"], Heal: h}
		for _, fe := range run.Events[:i] {
			if fe.Kind == "FAULT" && fe.Int("n") == e.Int("n") {
				f.Outage = r.outage(run, ids, fe.T, limit)
			}
		}
		c, inOffice := r.holder(run, ids, h)
		if inOffice {
			f.LeaderAtHeal, f.Found = true, true
		} else {
			first := int64(math.MaxInt64)
			for _, id := range ids {
				for _, c := range r.Leases[id] {
					if c.From >= h && c.From < limit && c.From < first {
						first = c.From
					}
				}
			}
			if first != math.MaxInt64 {
				f.Found, f.Took = true, time.Duration(first-h)
			}
		}
		r.Failovers = append(r.Failovers, f)

		if !inOffice || !rejoinKinds[f.Kind] {
			continue
		}
		wEnd := min(h+int64(r.Params.RejoinWindow), limit)
		var d *Disruption
		for _, id := range ids {
			for _, l := range run.Nodes[id] {
				if l.T <= h || l.T > wEnd {
					continue
				}
				if _, ok := l.Fields["term"]; !ok || l.Uint("term") <= c.Term {
					continue
				}
				if !r.Held(c.Node, l.T) {
					// The leader had lost its lease (a stall, a
					// lost quorum): an election is no disruption.
					continue
				}
				if d == nil || time.Duration(l.T-h) < d.After {
					d = &Disruption{N: f.N, Kind: f.Kind, Leader: c.Node, Term: c.Term, By: id, NewTerm: l.Uint("term"), After: time.Duration(l.T - h)}
				}
				break
			}
		}
		if d != nil {
			r.Disruptions = append(r.Disruptions, *d)
		}
	}
}
