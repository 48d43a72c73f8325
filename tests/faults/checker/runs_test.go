package checker

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// childLines is a run of node's command in term: the child (pid run) and
// a grandchild (pid run+1) writing from ms `from` to ms `to`, each ending
// with `end` ("stop", "exit" or "" for a SIGKILL), deadline ms the start
// deadline.
func childLines(node string, term, run int, from, to, deadline int64, end string) []string {
	var out []string
	for _, pid := range []int{run, run + 1} {
		pre := fmt.Sprintf("node=%s term=%d run=%d pid=%d", node, term, run, pid)
		out = append(out, fmt.Sprintf("CHILD @%d %s what=start deadline=%d", from, pre, deadline*ms))
		for t := from + 1; t < to; t += 50 {
			out = append(out, fmt.Sprintf("CHILD @%d %s what=tick", t, pre))
		}
		if end != "" {
			out = append(out, fmt.Sprintf("CHILD @%d %s what=%s", to, pre, end))
		} else {
			out = append(out, fmt.Sprintf("CHILD @%d %s what=tick", to, pre))
		}
	}
	return out
}

// report is the watchdog's report of a run: tree gone at ms gone, the
// lease deadline at ms deadline.
func report(node string, term, run int, gone, deadline int64, reason string) WatchdogReport {
	return WatchdogReport{Node: node, Term: uint64(term), PID: run, Reason: reason, Gone: gone * ms, Deadline: deadline * ms}
}

// runsInput: n1 runs its command in term 2 from 100 to 600 ms (lease
// deadline 640 ms, gone at 605), is cut off at 550 ms (fault 1, healed at
// 900 ms); n2 runs it in term 3 from 800 ms to 1400 ms.
func runsInput() *RunsInput {
	return &RunsInput{
		Children: map[string][]Line{
			"n1": logf(childLines("n1", 2, 100, 100, 600, 215, "stop")...),
			"n2": logf(childLines("n2", 3, 200, 800, 1400, 915, "stop")...),
			"n3": nil,
		},
		Reports: map[string][]WatchdogReport{
			"n1": {report("n1", 2, 100, 605, 640, "lease about to end")},
			"n2": {report("n2", 3, 200, 1401, 1420, "graft stopping")},
		},
		Events: logf("BEGIN @0", "FAULT @550 n=1 kind=isolate desc=leader n1 cut off", "HEAL @900 n=1 kind=isolate", "END @1300"),
	}
}

func requireRunsViolation(t *testing.T, r *RunsReport, want string) {
	t.Helper()
	requireAmong(t, r.Violations(), want)
}

func TestRuns_CleanRunPasses(t *testing.T) {
	r := CheckRuns(runsInput(), params)
	if v := r.Violations(); len(v) > 0 {
		t.Fatalf("want no violations, got:\n%s", strings.Join(v, "\n"))
	}
	if len(r.Runs) != 2 || r.Runs[0].Procs != 2 || r.Runs[0].Ends != "stop+stop" || r.Runs[0].StartDeadline != 215*ms {
		t.Fatalf("runs: %+v", r.Runs)
	}
	if r.ClosestGap != 200*time.Millisecond {
		t.Fatalf("closest gap: got %s, want 200ms", r.ClosestGap)
	}
	if r.LatestEnd != -20*time.Millisecond {
		t.Fatalf("latest end relative to the deadline: got %s, want -20ms", r.LatestEnd)
	}
	if len(r.Failovers) != 1 || !r.Failovers[0].Found || !r.Failovers[0].LeaderAtHeal {
		t.Fatalf("n2's command runs at the heal (900 ms): %+v", r.Failovers)
	}
}

func TestRuns_OverlapFails(t *testing.T) {
	in := runsInput()
	in.Children["n2"] = logf(childLines("n2", 3, 200, 590, 1400, 705, "stop")...)
	requireRunsViolation(t, CheckRuns(in, params), "the commands of n1 (term 2) and n2 (term 3) were both alive for 10ms at t=590000000")
}

// A grandchild that outlives its parent makes the run last as long.
func TestRuns_GrandchildCounts(t *testing.T) {
	in := runsInput()
	in.Children["n1"] = append(in.Children["n1"], logf("CHILD @820 node=n1 term=2 run=100 pid=101 what=tick")...)
	in.Reports["n1"] = []WatchdogReport{report("n1", 2, 100, 830, 850, "lease about to end")}
	requireRunsViolation(t, CheckRuns(in, params), "the commands of n1 (term 2) and n2 (term 3) were both alive for 20ms")
}

func TestRuns_ProblemsFail(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(in *RunsInput)
		want string
	}{
		{"wrote after the deadline", func(in *RunsInput) { in.Reports["n1"][0].Deadline = 590 * ms },
			"n1: run 100 (term 2) wrote at t=600000000, 10ms after its lease deadline"},
		{"wrote after the tree was seen gone", func(in *RunsInput) { in.Reports["n1"][0].Gone = 599 * ms },
			"n1: run 100 (term 2) wrote at t=600000000, 1ms after the watchdog saw its tree gone"},
		{"no report", func(in *RunsInput) { in.Reports["n1"] = nil }, "n1: run 100 (term 2, t=100000000..600000000): no report of the watchdog"},
		{"report of another run", func(in *RunsInput) { in.Reports["n1"][0].PID = 99 }, "no report of the watchdog"},
		{"no start line", func(in *RunsInput) { in.Children["n1"] = in.Children["n1"][1:] }, "n1: run 100 (term 2) wrote no start line of its own"},
		{"no command after the heal", func(in *RunsInput) { delete(in.Children, "n2"); delete(in.Reports, "n2") },
			"fault 1 (isolate): no command run after the heal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := runsInput()
			tc.edit(in)
			requireRunsViolation(t, CheckRuns(in, params), tc.want)
		})
	}
}

func TestRuns_FailoverBound(t *testing.T) {
	in := runsInput()
	in.Children["n2"] = logf(childLines("n2", 3, 200, 1200, 1400, 1315, "stop")...)
	in.Events = logf("BEGIN @0", "FAULT @550 n=1 kind=isolate desc=x", "HEAL @900 n=1 kind=isolate", "END @1500")
	p := Params{ElectionMax: params.ElectionMax, FailoverBound: 250 * time.Millisecond}
	requireRunsViolation(t, CheckRuns(in, p), "fault 1 (isolate): a command 300ms after the heal, bound 250ms")
	if v := CheckRuns(in, params).Violations(); len(v) != 0 {
		t.Fatalf("within the default bound (1.8 s): %v", v)
	}
}

// The watchdog's and graft's lines as cmd/graft writes them.
func TestRuns_ParseGraftLog(t *testing.T) {
	text := strings.Join([]string{
		"graft: node n1 holds the lease at term 4",
		"graft: node n1 term 4: command started (pid 4242) 0.85 ms after the lease lease_ns=123",
		"graft: node n1 term 4: command (pid 4242) ended, status 143 (lease lost); group gone 25.3 ms before the lease deadline (SIGTERM 1.2 ms before, SIGKILL not sent) gone_ns=1000 deadline_ns=26300",
	}, "\n")
	reps, starts := ParseGraftLog(text)
	want := WatchdogReport{Node: "n1", Term: 4, PID: 4242, Reason: "lease lost", Gone: 1000, Deadline: 26300}
	if len(reps) != 1 || reps[0] != want {
		t.Fatalf("reports: got %+v, want %+v", reps, want)
	}
	if len(starts) != 1 || starts[0] != 850*time.Microsecond {
		t.Fatalf("start delays: %v", starts)
	}
}
