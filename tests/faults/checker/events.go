package checker

import (
	"fmt"
	"math"
	"time"
)

// The lease events (graft_config_on_lease), checked beside the polled
// leases: the polls give every renewal's deadline (renewals raise no
// event), which is what an application reading graft_node_lease acts on;
// the events give what an event-driven application acts on, and whether
// "lost" came on time. Both views must be free of overlaps.
//
// An event-driven application acts from the moment its "acquired"
// callback runs until its "lost" callback runs, and never past the
// deadline (graft.h: the loss may come up to the callback delay after
// it). So a node's event lease runs from the LEASE held=1 line's t to the
// earliest of: the LEASE held=0 line's t, that loss's deadline (the
// lease's latest, in real time), the node's own successful step-down in
// that term (stepDown.End: the application stops when it asks), and, for
// a process killed while it held the lease, its KILLED line (it acted
// until it died, at the latest then).

// LostDelay is how late one "lost" ran after its deadline (or after the
// process was resumed, when it was stopped at the deadline: a stopped
// process can report nothing).
type LostDelay struct {
	Node string
	Term uint64
	// Late is the callback's run minus the deadline (or the resume).
	Late time.Duration
	// Queue is the callback's own delay in the library's queue (stats
	// callback_delay_last_ns read inside it; 0 if unknown).
	Queue time.Duration
	// Resumed: the node was stopped (SIGSTOP) at the deadline.
	Resumed bool
	// Starved: the node's poller (which runs every 250 us) first ran
	// more than a millisecond after the deadline (or the resume), by its
	// GAP or NOLEAD line, so lateness counts from then: the process itself
	// was not running (a loaded machine), no fault of the library's timer.
	Starved bool
}

// Timer is how late the loss was queued: Late minus Queue, the lateness
// of the library's own deadline timer.
func (d LostDelay) Timer() time.Duration { return d.Late - d.Queue }

// eventState is one node's walk through its LEASE lines.
type eventState struct {
	id       string
	end      int64
	clk      clockOf
	open     *Line // the acquired not yet paired
	openFrom int64
	// openDeadline is the open lease's latest deadline in real time: the
	// acquired's, raised by each renewal the poller saw.
	openDeadline int64
	lastTerm     uint64 // of the last acquired, across restarts
	started      int64  // START of the current process
	stops        [][2]int64
	sds          []stepDown
	nolead       []Line // the poller's NOLEAD lines
	gaps         []Line // the poller's GAP lines
}

// eventLeases walks a node's LEASE lines: its event leases, the lateness
// of each loss due at its deadline, and every pairing error.
func (r *Report) eventLeases(id string, lines []Line, end int64) []Lease {
	st := &eventState{id: id, end: end, clk: clockOf{rate: 1}, sds: stepDowns(lines), stops: stoppedWindows(lines)}
	for _, l := range lines {
		switch l.Kind {
		case "NOLEAD":
			st.nolead = append(st.nolead, l)
		case "GAP":
			st.gaps = append(st.gaps, l)
		}
	}
	var out []Lease
	// add closes the open lease at to; the ends without a loss (a kill, a
	// restart, the log's end) are capped at the lease's latest deadline
	// too, since the instant of a kill is known only to lie before the
	// KILLED line (the harness writes it once the process is reaped,
	// seen 254 ms after SIGKILL on a loaded machine).
	add := func(to int64) {
		if l, ok := st.cut(to); ok {
			out = append(out, l)
		}
		st.open = nil
	}
	addCapped := func(to int64) { add(min(to, st.openDeadline)) }
	for _, l := range lines {
		switch l.Kind {
		case "START":
			if st.open != nil {
				// No KILLED line: the process ended some other way.
				r.Unpaired = append(r.Unpaired, fmt.Sprintf("%s: acquired term %d at t=%d, then restarted at t=%d without a loss or a kill",
					id, st.open.Uint("term"), st.openFrom, l.T))
				addCapped(l.T)
			}
			st.clk, st.started = clockFrom(l), l.T
		case "KILLED":
			if st.open != nil {
				addCapped(l.T)
			}
		case "LEAD":
			// A renewal of the open lease, as the poller saw it.
			if st.open != nil && l.Uint("term") == st.open.Uint("term") {
				st.openDeadline = max(st.openDeadline, st.deadline(l))
			}
		case "CLOSED":
			if st.open != nil {
				r.Unpaired = append(r.Unpaired, fmt.Sprintf("%s: graft_node_close returned at t=%d with term %d's lease never reported lost",
					id, l.T, st.open.Uint("term")))
				add(l.T)
			}
		case "LEASE":
			r.LeaseEvents++
			if l.Fields["held"] == "1" {
				r.acquired(st, l, add)
			} else {
				r.lost(st, l, add)
			}
		}
	}
	if st.open != nil {
		addCapped(end)
	}
	return merge(out)
}

// acquired handles a LEASE held=1 line.
func (r *Report) acquired(st *eventState, l Line, add func(int64)) {
	term := l.Uint("term")
	if st.open != nil {
		r.Unpaired = append(r.Unpaired, fmt.Sprintf("%s: acquired term %d at t=%d while term %d's lease (acquired at t=%d) was never reported lost",
			st.id, term, l.T, st.open.Uint("term"), st.openFrom))
		add(l.T)
	}
	if term < st.lastTerm {
		r.Unpaired = append(r.Unpaired, fmt.Sprintf("%s: acquired term %d at t=%d after term %d: terms went down", st.id, term, l.T, st.lastTerm))
	}
	st.lastTerm = max(st.lastTerm, term)
	line := l
	st.open, st.openFrom, st.openDeadline = &line, l.T, st.deadline(l)
}

// deadline is line l's deadline in real time; a meaningless one (check-
// quorum disabled) counts as never.
func (st *eventState) deadline(l Line) int64 {
	d := l.Int("deadline")
	if d <= 0 || d-l.T > unboundedAfter {
		return math.MaxInt64
	}
	return st.clk.real(d)
}

// lost handles a LEASE held=0 line: pairing, the lease's end, lateness.
func (r *Report) lost(st *eventState, l Line, add func(int64)) {
	term := l.Uint("term")
	if st.open == nil {
		r.Unpaired = append(r.Unpaired, fmt.Sprintf("%s: lost term %d at t=%d without an acquired before it", st.id, term, l.T))
		return
	}
	if term != st.open.Uint("term") {
		r.Unpaired = append(r.Unpaired, fmt.Sprintf("%s: lost term %d at t=%d, but the lease acquired (t=%d) was of term %d",
			st.id, term, l.T, st.openFrom, st.open.Uint("term")))
	}
	to := l.T
	d := l.Int("deadline")
	bounded := d > 0 && d-st.openFrom <= unboundedAfter
	if bounded {
		real := st.clk.real(d)
		to = min(to, real)
		r.lateness(st, l, real)
	}
	for _, s := range st.sds {
		// A node leads a term at most once (checkReLead), so a step-down
		// of this term by this process, returned before the loss ran,
		// ended this lease.
		if s.Term == term && s.T0 >= st.started && s.T <= l.T {
			to = min(to, s.End)
			break
		}
	}
	add(to)
}

// lateness records how late a loss ran after its deadline and flags one
// queued later than Params.TimerSlack after it.
func (r *Report) lateness(st *eventState, l Line, deadline int64) {
	base, resumed := deadline, false
	for _, w := range st.stops {
		if w[0] <= deadline && deadline < w[1] {
			base, resumed = w[1], true
		}
	}
	if l.T < base || l.T > st.end {
		return // an early loss (step-down, higher term, close), or after END
	}
	starved := false
	if ran := st.firstPollAfter(deadline, base); ran > base+int64(time.Millisecond) {
		base, starved = ran, true
	}
	q := max(l.Int("cbdelay"), 0)
	ld := LostDelay{Node: st.id, Term: l.Uint("term"), Late: max(time.Duration(l.T-base), 0), Queue: time.Duration(q), Resumed: resumed, Starved: starved}
	r.LostDelays = append(r.LostDelays, ld)
	if ld.Timer() > r.Params.TimerSlack {
		after := "its deadline"
		switch {
		case starved:
			after = "the process first ran after the deadline (its poller)"
		case resumed:
			after = "the resume (stopped at the deadline)"
		}
		r.LateLosses = append(r.LateLosses, fmt.Sprintf("%s: the loss of term %d ran %s after %s at t=%d, %s of it in the callback queue: queued %s late (allowed %s)",
			st.id, ld.Term, ld.Late, after, base, ld.Queue, ld.Timer(), r.Params.TimerSlack))
	}
}

// firstPollAfter is when the node's poller first ran after the lease's
// deadline, at or after from: the end of a GAP line (the poller did not
// run) that spans from, or the start of the poll that found the lease gone
// (its NOLEAD line, whose last poll saw the lease before the deadline); 0
// if there is none.
func (st *eventState) firstPollAfter(deadline, from int64) int64 {
	for _, g := range st.gaps {
		if g.Int("from") <= from && from < g.T {
			return g.T
		}
	}
	for _, n := range st.nolead {
		if s := pollStart(n); s >= from && n.Int("last") <= deadline && n.Int("last") >= st.openFrom {
			return s
		}
	}
	return 0
}

// cut closes the open event lease at to, cut at END.
func (st *eventState) cut(to int64) (Lease, bool) {
	from := st.openFrom
	to = min(to, st.end)
	if from >= st.end || to <= from {
		return Lease{}, false
	}
	return Lease{Node: st.id, Term: st.open.Uint("term"), From: from, To: to}, true
}

// stoppedWindows are the intervals in which the harness held the process
// stopped: STOPPED to CONT (or to a KILLED, START or the log's end).
func stoppedWindows(lines []Line) [][2]int64 {
	var out [][2]int64
	var at int64 = -1
	for _, l := range lines {
		switch l.Kind {
		case "STOPPED":
			at = l.T
		case "CONT", "KILLED", "START":
			if at >= 0 {
				out = append(out, [2]int64{at, l.T})
				at = -1
			}
		}
	}
	if at >= 0 {
		out = append(out, [2]int64{at, 1<<63 - 1})
	}
	return out
}
