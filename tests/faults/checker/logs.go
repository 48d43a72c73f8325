// Package checker reads what the nodes of a fault-injection run believed,
// and when, and checks graft's guarantees against it.
//
// # Inputs
//
// A run directory holds one log per node, <id>.log, written by
// tests/faults/node.c (and appended to by the harness), and events.log,
// written by the harness. Every line is a kind followed by key=value
// fields; t is CLOCK_MONOTONIC in nanoseconds, one clock for the whole host
// (all namespaces share it):
//
//	START   t= id= term= pid= rate= anchor= anchor1=   node process started; term read after
//	                                          graft_node_new; rate is the GRAFT_TEST_CLOCK_RATE in
//	                                          effect (1 if unset, and always 1 for a node linked
//	                                          against the released library); anchor and anchor1
//	                                          are CLOCK_MONOTONIC just before and just after
//	                                          graft_node_new
//	STATE   t= from= to= term=                state-change callback
//	LEADER  t= leader= term=                  leader-change callback ("-" for none)
//	TERM    t= term=                          poller: graft_node_term changed
//	LEAD    t= t0= term= deadline=            poller: graft_node_lease returned 1 with this term
//	                                          and deadline (logged on 0->1 and each renewal);
//	                                          the call began at t0 and returned before t
//	NOLEAD  t= t0= last=                      poller: graft_node_lease went 1 -> 0; last is the
//	                                          return of the last poll that saw the lease
//	GAP     t= from=                          poller: it did not run from `from` to t (over 1 ms
//	                                          beyond its sleep): the process was starved
//	STEPDOWN t= t0= term= rc= tries= delay_us= kick=   handover mode: graft_node_step_down
//	                                          called at t0 (term read just before), returned rc at
//	                                          t; kick=1 for the leader in office when the mode
//	                                          came on (not just elected)
//	HANDOVER t= on=                           handover mode switched on or off
//	LEASE   t= held= term= deadline= cbdelay= lease callback: held 1 acquired, 0 lost, run at
//	                                          t; cbdelay its own delay in the library's
//	                                          callback queue (-1 unknown); see events.go
//	CLOSING t=                                SIGTERM received, graft_node_close follows
//	CLOSED  t= rc=                            graft_node_close returned
//	KILLED  t=                                appended by the harness after SIGKILL
//	STOPPED t= / CONT t=                      appended by the harness just before it sends
//	                                          SIGSTOP / SIGCONT
//
//	events.log:  BEGIN t= | FAULT t= n= kind= desc= | HEAL t= n= kind= | END t=
//
// # Lease intervals
//
// The checker compares the leases the nodes themselves report, polled from
// graft_node_lease every 250 us. A LEAD line at t with deadline d says: "the
// lease was held when the call returned, and the application may act as
// leader until d" (graft_node_lease's contract). A node's lease interval
// runs from the first LEAD line of a term (the instant the lease was first
// seen) to its latest deadline: the union of [t, d] over its LEAD lines.
// Each end is taken on the safe side:
//
//   - The start is t, after the call returned: the lease was certainly
//     held then (its deadline lies ahead), so an overlap the checker finds
//     is a real one. The lease may have begun up to one polling period
//     earlier (the previous poll saw none): overlaps shorter than that can
//     be missed, as an application polling at the same rate would not
//     have acted in them either.
//   - The end is the deadline, not the poller's NOLEAD line: an
//     application that read the lease may act until its deadline whatever
//     happens later, and a poller that is descheduled, or a process that
//     is SIGSTOPped (the GC-pause case), would otherwise place the end at
//     the moment it woke. The one exception is the node's own successful
//     graft_node_step_down: the application stops acting when it calls it
//     (t0), and the library ends the lease before it returns, so a lease of
//     the stepped-down term ends at the later of t0 and the last poll that
//     still saw it (the NOLEAD line's last), or at the step-down's return
//     when no NOLEAD followed. Not at the return itself: a stall of the
//     process between the step-down's effect and its return (6 ms seen on
//     a loaded machine) would stretch the lease over the successor's.
//   - Deadlines are CLOCK_MONOTONIC as the library converted them from
//     Go's clock (error: tens of nanoseconds, on the early side).
//
// So Params.Tolerance is zero by default: any overlap of two nodes' leases
// is a violation. Leases are cut at END.
//
// The lease events are a second view, checked the same way (events.go):
// the leases an event-driven application acts on, from "acquired" to
// "lost" (or the deadline, or the node's own step-down, or its kill). Every
// "lost" must pair with the "acquired" before it, and a loss due at the
// deadline must be queued for its callback within Params.TimerSlack of it
// (of the resume, for a process stopped at the deadline): it may run later
// only by its own delay in the callback queue, which it reports.
//
// A node started with GRAFT_TEST_CLOCK_RATE=r (test build of the library)
// reports deadlines in its own skewed clock, which runs r times as fast as
// CLOCK_MONOTONIC from an anchor a the library takes inside graft_node_new:
// real = a + (d - a) / r. a is only known to lie in [anchor, anchor1]; the
// checker takes whichever gives the later real deadline (a lease is never
// shortened). The error this leaves, (anchor1 - anchor) * |1 - 1/r|, is
// below 0.1 ms for the rates used (0.991, 1.009) and a graft_node_new of
// under 10 ms, far below the drift margin (MaxClockDrift × ElectionMin, 1.2
// ms) that separates a lease ended by its deadline from the next one.
//
// With check-quorum disabled (a test-only option) the lease is unbounded
// and the deadline meaningless (it is far in the future). Such a lease
// ends at the node's next NOLEAD, KILLED, START, CLOSING or successful
// STEPDOWN line, or at END.
//
// # Handovers
//
// In handover mode a node steps down as soon as it can after each
// election. A node that stepped down in a term must never lead that term
// again: a state change to leader of that term, or a LEAD line of it from
// a poll begun after the step-down returned, is a violation (issue 12, F1:
// a late vote of the old candidacy re-elected the node that had handed
// over).
//
// # Rejoin disruptions
//
// Pre-vote promises that a node coming back (healed partition, restart,
// resumed pause) does not disturb a working leader. After each HEAL of such
// a fault at h, if some node held a lease of term T at h, then no node may
// log a term above T within Params.RejoinWindow after h (or before the next
// FAULT) while that leader still holds its lease: a higher term means an
// election was held although a leader was in office. (A leader whose lease
// ran out first, say because its process stalled on a loaded machine, may
// be replaced.) Heals of loss and delay are not checked: an election started
// under loss may legitimately complete after the heal.
package checker

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Line is one parsed log line.
type Line struct {
	Kind   string
	T      int64 // CLOCK_MONOTONIC, ns
	Fields map[string]string
}

// Int returns field k as an integer, or 0.
func (l Line) Int(k string) int64 {
	v, _ := strconv.ParseInt(l.Fields[k], 10, 64)
	return v
}

// Uint returns field k as an unsigned integer, or 0.
func (l Line) Uint(k string) uint64 {
	v, _ := strconv.ParseUint(l.Fields[k], 10, 64)
	return v
}

// Float returns field k as a float, or def when absent or malformed.
func (l Line) Float(k string, def float64) float64 {
	v, err := strconv.ParseFloat(l.Fields[k], 64)
	if err != nil {
		return def
	}
	return v
}

// ParseLine parses "KIND k=v k=v ...". A field named desc takes the rest
// of the line. Lines without a t field are errors.
func ParseLine(s string) (Line, error) {
	s = strings.TrimSpace(s)
	kind, rest, _ := strings.Cut(s, " ")
	l := Line{Kind: kind, Fields: map[string]string{}}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, "desc=") {
			l.Fields["desc"] = rest[len("desc="):]
			break
		}
		var f string
		f, rest, _ = strings.Cut(rest, " ")
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return l, fmt.Errorf("checker: field %q without '=' in %q", f, s)
		}
		l.Fields[k] = v
	}
	t, err := strconv.ParseInt(l.Fields["t"], 10, 64)
	if err != nil {
		return l, fmt.Errorf("checker: no time in %q", s)
	}
	l.T = t
	return l, nil
}

// ParseLines parses a whole log. A last line cut short (a process killed
// in the middle of a write, which write(2) on a regular file makes
// unlikely) is dropped; any other bad line is an error.
func ParseLines(text string) ([]Line, error) {
	raw := strings.Split(text, "\n")
	var out []Line
	for i, s := range raw {
		if strings.TrimSpace(s) == "" {
			continue
		}
		l, err := ParseLine(s)
		if err != nil {
			if i == len(raw)-1 {
				break
			}
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// Run is the input of a check: each node's log and the harness's events.
type Run struct {
	Nodes  map[string][]Line
	Events []Line
}

// ReadDir reads a run directory: every *.log but events.log is a node log
// named by its file.
func ReadDir(dir string) (*Run, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	r := &Run{Nodes: map[string][]Line{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		lines, err := ParseLines(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".log")
		if name == "events" {
			r.Events = lines
		} else {
			r.Nodes[name] = lines
		}
	}
	if len(r.Nodes) == 0 {
		return nil, fmt.Errorf("checker: no node logs in %s", dir)
	}
	if r.Events == nil {
		return nil, fmt.Errorf("checker: no events.log in %s", dir)
	}
	// Lines from different writers of one file (callbacks, poller,
	// harness) are each in order; sort by time for the readers below.
	for _, lines := range r.Nodes {
		sort.SliceStable(lines, func(i, j int) bool { return lines[i].T < lines[j].T })
	}
	return r, nil
}
