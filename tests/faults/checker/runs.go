package checker

// The graft-run mode: each node is a `graft run` process whose command,
// tests/faults/child.c, writes down its own life. The run directory holds:
//
//	n<i>.child   the CHILD lines of node i's children and grandchildren
//	             (child.c's comment gives the format)
//	n<i>.stderr  graft's and its watchdog's own lines; the checker reads the
//	             watchdog's report of each run ("command (pid P) ended ...
//	             gone_ns= deadline_ns=": when it saw the whole tree gone,
//	             and the lease deadline it held then) and graft's start
//	             line ("command started (pid P) X ms after the lease")
//	events.log   the harness's FAULT/HEAL lines, as in the library mode
//
// A run is one start of the command by one node: its processes' lines
// share node, term and run (the child's pid). Its life, by its own
// account, runs from its first line to the last line of any of its
// processes: they act only when they write, so no process of the run
// acted at any instant outside it.
//
// What must hold:
//   - the lives of runs of different nodes never overlap (no tolerance);
//   - no run wrote after the lease deadline the watchdog held at its end
//     (never later than the node's own: graft forwards each renewal, so
//     the watchdog's copy can only be older), nor after the instant the
//     watchdog reported its whole tree gone;
//   - every run has the watchdog's report (its end is known);
//   - after each heal some node runs its command within the failover
//     bound, unless one was running at the heal.
//
// Runs are not cut at END: the harness's final SIGTERMs hand leadership
// over as well, and the lives of the children they stop count too.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ChildRun is one run of the command: its life by its own lines, and the
// watchdog's report of its end.
type ChildRun struct {
	Node string
	Term uint64
	PID  int   // the child's pid: the run's id
	From int64 // its first line (CLOCK_MONOTONIC ns)
	To   int64 // the last line of any of its processes
	// StartDeadline is GRAFT_LEASE_DEADLINE_NS as the child got it.
	StartDeadline int64
	Procs         int    // processes that wrote (child, grandchild)
	Ends          string // how its processes ended by their own account: stop, exit, or killed
	// From the watchdog's report; Reported false when there was none.
	Reported bool
	Gone     int64 // the whole tree seen gone
	Deadline int64 // the lease deadline the watchdog held at the end
	Reason   string
}

// Dur is the run's life.
func (c ChildRun) Dur() time.Duration { return time.Duration(c.To - c.From) }

// RunsInput is what a graft-run mode check reads.
type RunsInput struct {
	Children map[string][]Line // node -> its CHILD lines
	Reports  map[string][]WatchdogReport
	Starts   []time.Duration // lease reported to command started, from graft's lines
	Events   []Line
}

// WatchdogReport is the watchdog's line about one finished run.
type WatchdogReport struct {
	Node     string
	Term     uint64
	PID      int
	Reason   string
	Gone     int64
	Deadline int64
}

var (
	goneRE    = regexp.MustCompile(`node (\S+) term (\d+): command \(pid (\d+)\) ended, status -?\d+ \(([^)]*)\);.* gone_ns=(\d+) deadline_ns=(\d+)`)
	startedRE = regexp.MustCompile(`node \S+ term \d+: command started \(pid \d+\) ([0-9.]+) ms after the lease`)
)

// ParseGraftLog reads graft's stderr: the watchdog's reports and the delay
// from each lease to its command's start.
func ParseGraftLog(text string) (reps []WatchdogReport, starts []time.Duration) {
	for _, s := range strings.Split(text, "\n") {
		if m := goneRE.FindStringSubmatch(s); m != nil {
			term, _ := strconv.ParseUint(m[2], 10, 64)
			pid, _ := strconv.Atoi(m[3])
			gone, _ := strconv.ParseInt(m[5], 10, 64)
			dl, _ := strconv.ParseInt(m[6], 10, 64)
			reps = append(reps, WatchdogReport{Node: m[1], Term: term, PID: pid, Reason: m[4], Gone: gone, Deadline: dl})
		} else if m := startedRE.FindStringSubmatch(s); m != nil {
			f, _ := strconv.ParseFloat(m[1], 64)
			starts = append(starts, time.Duration(f*float64(time.Millisecond)))
		}
	}
	return reps, starts
}

// ReadRunsDir reads a graft-run mode run directory.
func ReadRunsDir(dir string) (*RunsInput, error) {
	in := &RunsInput{Children: map[string][]Line{}, Reports: map[string][]WatchdogReport{}}
	ev, err := os.ReadFile(filepath.Join(dir, "events.log"))
	if err != nil {
		return nil, fmt.Errorf("checker: %w", err)
	}
	if in.Events, err = ParseLines(string(ev)); err != nil {
		return nil, fmt.Errorf("checker: events.log: %w", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "n*.stderr"))
	if len(files) == 0 {
		return nil, fmt.Errorf("checker: no graft logs (n*.stderr) in %s", dir)
	}
	for _, f := range files {
		node := strings.TrimSuffix(filepath.Base(f), ".stderr")
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		reps, starts := ParseGraftLog(string(b))
		in.Reports[node] = reps
		in.Starts = append(in.Starts, starts...)
		b, err = os.ReadFile(filepath.Join(dir, node+".child"))
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		lines, err := ParseLines(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s.child: %w", node, err)
		}
		in.Children[node] = lines
	}
	return in, nil
}

// RunsReport is what CheckRuns found.
type RunsReport struct {
	Params   Params
	Runs     []ChildRun // by start
	Overlaps []Overlap  // two nodes' runs alive at once
	// ClosestGap is the shortest time from the end of one node's run to
	// the start of another node's (-1 when none).
	ClosestGap time.Duration
	// LatestEnd is the largest (last line - lease deadline) over the runs
	// with a report: negative when every run ended before its deadline.
	LatestEnd  time.Duration
	Margins    []time.Duration // deadline - last line, per reported run
	GoneMargin []time.Duration // deadline - tree seen gone, per reported run
	Starts     []time.Duration
	Problems   []string // broken guarantees other than overlaps
	Failovers  []Failover
	Ends       map[string]int // runs by how their processes ended
	Reasons    map[string]int // runs by the watchdog's reason
}

// CheckRuns checks a graft-run mode run.
func CheckRuns(in *RunsInput, p Params) *RunsReport {
	p = p.withDefaults()
	r := &RunsReport{Params: p, ClosestGap: -1, LatestEnd: math.MinInt64, Starts: in.Starts, Ends: map[string]int{}, Reasons: map[string]int{}}
	nodes := make([]string, 0, len(in.Children))
	for n := range in.Children {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		r.Runs = append(r.Runs, r.runsOf(n, in.Children[n], in.Reports[n])...)
	}
	sort.Slice(r.Runs, func(i, j int) bool { return r.Runs[i].From < r.Runs[j].From })
	for i, a := range r.Runs {
		for _, b := range r.Runs[i+1:] {
			if a.Node == b.Node {
				continue
			}
			if from, to := max(a.From, b.From), min(a.To, b.To); to >= from {
				r.Overlaps = append(r.Overlaps, Overlap{A: a.Node, B: b.Node, TermA: a.Term, TermB: b.Term, From: from, To: to})
			} else if g := time.Duration(b.From - a.To); r.ClosestGap < 0 || g < r.ClosestGap {
				r.ClosestGap = g
			}
		}
	}
	if r.LatestEnd == math.MinInt64 {
		r.LatestEnd = 0
	}
	r.checkHeals(in.Events)
	return r
}

// runsOf groups a node's CHILD lines into runs and joins each with the
// watchdog's report.
func (r *RunsReport) runsOf(node string, lines []Line, reps []WatchdogReport) []ChildRun {
	byPID := map[int]*ChildRun{}
	var order []int
	ends := map[int]map[int]string{} // run -> process -> its last word
	for _, l := range lines {
		if l.Kind != "CHILD" {
			continue
		}
		id := int(l.Int("run"))
		c := byPID[id]
		if c == nil {
			c = &ChildRun{Node: node, Term: l.Uint("term"), PID: id, From: l.T, To: l.T}
			byPID[id], ends[id] = c, map[int]string{}
			order = append(order, id)
		}
		c.From, c.To = min(c.From, l.T), max(c.To, l.T)
		if l.Fields["what"] == "start" && int(l.Int("pid")) == id {
			c.StartDeadline = l.Int("deadline")
		}
		ends[id][int(l.Int("pid"))] = l.Fields["what"]
	}
	var out []ChildRun
	for _, id := range order {
		c := byPID[id]
		c.Procs = len(ends[id])
		c.Ends = endsOf(ends[id])
		r.Ends[c.Ends]++
		if c.StartDeadline == 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: run %d (term %d) wrote no start line of its own", node, id, c.Term))
		}
		for _, w := range reps {
			if w.PID == id && w.Term == c.Term {
				c.Reported, c.Gone, c.Deadline, c.Reason = true, w.Gone, w.Deadline, w.Reason
			}
		}
		r.judge(c)
		out = append(out, *c)
	}
	return out
}

// endsOf names how a run's processes ended by their own lines: "stop"
// (each stopped on SIGTERM), "exit+stop" (the child exited on its own,
// the grandchild was stopped), or with "killed" for a process whose last
// line says nothing of an end (SIGKILL).
func endsOf(procs map[int]string) string {
	var parts []string
	for _, what := range procs {
		switch what {
		case "stop", "exit":
			parts = append(parts, what)
		default:
			parts = append(parts, "killed")
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "+")
}

// judge checks one run against its watchdog report.
func (r *RunsReport) judge(c *ChildRun) {
	if !c.Reported {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: run %d (term %d, t=%d..%d): no report of the watchdog: its end is unknown",
			c.Node, c.PID, c.Term, c.From, c.To))
		return
	}
	r.Reasons[c.Reason]++
	late := time.Duration(c.To - c.Deadline)
	r.LatestEnd = max(r.LatestEnd, late)
	r.Margins = append(r.Margins, -late)
	r.GoneMargin = append(r.GoneMargin, time.Duration(c.Deadline-c.Gone))
	if late > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: run %d (term %d) wrote at t=%d, %s after its lease deadline", c.Node, c.PID, c.Term, c.To, late))
	}
	if c.To > c.Gone {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: run %d (term %d) wrote at t=%d, %s after the watchdog saw its tree gone",
			c.Node, c.PID, c.Term, c.To, time.Duration(c.To-c.Gone)))
	}
}

// checkHeals: after each heal a run is alive, or one starts within the
// failover bound (before the next fault).
func (r *RunsReport) checkHeals(events []Line) {
	end := int64(math.MaxInt64)
	for _, e := range events {
		if e.Kind == "END" {
			end = e.T
		}
	}
	for i, e := range events {
		if e.Kind != "HEAL" {
			continue
		}
		limit := end
		for _, n := range events[i+1:] {
			if n.Kind == "FAULT" {
				limit = n.T
				break
			}
		}
		f := Failover{N: int(e.Int("n")), Kind: e.Fields["kind"], Heal: e.T}
		for _, c := range r.Runs {
			if c.From <= e.T && e.T <= c.To {
				f.LeaderAtHeal, f.Found = true, true
				break
			}
			if c.From > e.T && c.From < limit {
				f.Found, f.Took = true, time.Duration(c.From-e.T)
				break
			}
		}
		r.Failovers = append(r.Failovers, f)
	}
}

// Violations lists every broken guarantee, one sentence each.
func (r *RunsReport) Violations() []string {
	var v []string
	for _, o := range r.Overlaps {
		v = append(v, fmt.Sprintf("the commands of %s (term %d) and %s (term %d) were both alive for %s at t=%d",
			o.A, o.TermA, o.B, o.TermB, o.Dur(), o.From))
	}
	v = append(v, r.Problems...)
	return append(v, failoverViolations(r.Failovers, r.Params.FailoverBound, "command run", "a command")...)
}
