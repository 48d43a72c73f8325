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
//	START   t= id= term= pid= rate= anchor=   node process started; term read after graft_node_new;
//	                                          rate is GRAFT_TEST_CLOCK_RATE (1 if unset); anchor is
//	                                          CLOCK_MONOTONIC just before graft_node_new
//	STATE   t= from= to= term=                state-change callback
//	LEADER  t= leader= term=                  leader-change callback ("-" for none)
//	TERM    t= term=                          poller: graft_node_term changed
//	LEAD    t= term= deadline=                poller: is_leader is 1, graft_node_lease gave this term
//	                                          and deadline (logged on false->true and each renewal)
//	NOLEAD  t=                                poller: is_leader went 1 -> 0
//	CLOSING t=                                SIGTERM received, graft_node_close follows
//	KILLED  t=                                appended by the harness after SIGKILL
//
//	events.log:  BEGIN t= | FAULT t= n= kind= desc= | HEAL t= n= kind= | END t=
//
// # Leadership intervals and the lease
//
// A LEAD line at t with deadline d says: "at t this node led, and the
// application may act as leader until d" (graft_node_lease's contract). So
// the node's leadership claim is the union of [t, d] over its LEAD lines,
// with t taken after the call returned (the true instant is earlier, so
// the claim is never overstated at its start). The poller's NOLEAD line is
// not used to end a claim: a poller that is descheduled, or a process that
// is SIGSTOPped (the GC-pause case: the log's last LEAD stays the last
// word while the process is stopped, and on SIGCONT the poller records
// NOLEAD at once), would otherwise stretch the claim past the moment the
// node's lease ran out. The deadline is exact, so the overlap between two
// nodes' claims must be zero; Params.Tolerance (default 1 ms, one polling
// period) only absorbs the conversion of Go's clock to CLOCK_MONOTONIC
// and of a skewed clock back to real time. Claims are cut at END.
//
// A node started with GRAFT_TEST_CLOCK_RATE=r reports deadlines in its own
// skewed clock, which runs r times as fast as CLOCK_MONOTONIC from the
// anchor on; real = anchor + (d - anchor) / r.
//
// With check-quorum disabled (a test-only option) the lease is unbounded
// and the deadline meaningless (it is far in the future). Such a claim
// ends at the node's next NOLEAD, KILLED, START or CLOSING line, or at END.
//
// # Rejoin disruptions
//
// Pre-vote promises that a node coming back (healed partition, restart,
// resumed pause) does not disturb a working leader. After each HEAL of such
// a fault at h, if some node held a lease of term T at h, then no node may
// log a term above T within Params.RejoinWindow after h (or before the next
// FAULT): a higher term means an election was held although a leader was in
// office. Heals of loss and delay are not checked: an election started
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
