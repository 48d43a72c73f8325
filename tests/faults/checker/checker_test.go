package checker

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// params: election max 180ms, so failover bound 1.8s, rejoin window 900ms.
var params = Params{ElectionMax: 180 * time.Millisecond}

// logf builds a log from lines in which "@N" stands for t=N ms.
func logf(lines ...string) []Line {
	var out []Line
	for _, s := range lines {
		kind, rest, _ := strings.Cut(s, " ")
		at, rest, _ := strings.Cut(rest, " ")
		var n int64
		fmt.Sscanf(at, "@%d", &n)
		l, err := ParseLine(fmt.Sprintf("%s t=%d %s", kind, n*ms, rest))
		if err != nil {
			panic(err)
		}
		out = append(out, l)
	}
	return out
}

// lease is a LEAD line at t ms with a deadline at d ms.
func lease(t, d int64, term int) string {
	return fmt.Sprintf("LEAD @%d term=%d deadline=%d", t, term, d*ms)
}

// healthy is a 3-node run: n1 leads term 2 from 100ms to 1000ms, renewing
// its lease every 20ms; n1 is killed at 1000ms (fault 1), restarted at
// 1500ms (heal); n2 is elected term 3 at 1300ms.
func healthy() *Run {
	n1 := []string{"START @0 id=n1 term=1 pid=1 rate=1 anchor=0", "STATE @100 from=candidate to=leader term=2"}
	for t := int64(100); t < 1000; t += 20 {
		n1 = append(n1, lease(t, t+115, 2))
	}
	n1 = append(n1, "KILLED @1000", "START @1500 id=n1 term=2 pid=9 rate=1 anchor=1500", "LEADER @1520 leader=n2 term=3", "TERM @1520 term=3")
	n2 := []string{"START @0 id=n2 term=1 pid=2 rate=1 anchor=0", "LEADER @101 leader=n1 term=2", "TERM @101 term=2",
		"STATE @1290 from=follower to=candidate term=3", "TERM @1290 term=3", "STATE @1300 from=candidate to=leader term=3"}
	for t := int64(1302); t < 2500; t += 20 {
		n2 = append(n2, lease(t, t+115, 3))
	}
	n3 := []string{"START @0 id=n3 term=1 pid=3 rate=1 anchor=0", "LEADER @101 leader=n1 term=2", "TERM @101 term=2", "TERM @1295 term=3"}
	return &Run{
		Nodes:  map[string][]Line{"n1": logf(n1...), "n2": logf(n2...), "n3": logf(n3...)},
		Events: logf("BEGIN @0", "FAULT @1000 n=1 kind=kill desc=SIGKILL n1 (leader)", "HEAL @1500 n=1 kind=kill", "END @2500"),
	}
}

func requireClean(t *testing.T, r *Report) {
	t.Helper()
	if v := r.Violations(); len(v) > 0 {
		t.Fatalf("want no violations, got:\n%s", strings.Join(v, "\n"))
	}
}

func requireViolation(t *testing.T, r *Report, want string) {
	t.Helper()
	requireAmong(t, r.Violations(), want)
}

// requireAmong fails unless a violation of v contains want.
func requireAmong(t *testing.T, v []string, want string) {
	t.Helper()
	for _, s := range v {
		if strings.Contains(s, want) {
			return
		}
	}
	t.Fatalf("want a violation containing %q, got %d:\n%s", want, len(v), strings.Join(v, "\n"))
}

func TestCheck_HealthyRunPasses(t *testing.T) {
	r := Check(healthy(), params)
	requireClean(t, r)
	if got := r.LeadersPerTerm; len(got) != 2 || got[2][0] != "n1" || got[3][0] != "n2" {
		t.Fatalf("leaders per term: %v", got)
	}
	if len(r.Failovers) != 1 || !r.Failovers[0].LeaderAtHeal || r.Failovers[0].Took != 0 {
		t.Fatalf("failovers: %+v", r.Failovers)
	}
	if r.MaxOverlap != 0 {
		t.Fatalf("overlap %s", r.MaxOverlap)
	}
	// n1's last lease ends at 980+115 = 1095ms, n2's first begins at 1302ms.
	if r.MinHandover != 207*time.Millisecond {
		t.Fatalf("closest handover %s", r.MinHandover)
	}
}

func TestCheck_OverlapFails(t *testing.T) {
	run := healthy()
	// n2 starts claiming at 1050ms, while n1's last lease (980+115)
	// runs to 1095ms: 45ms of overlap.
	run.Nodes["n2"] = append(run.Nodes["n2"], logf(lease(1050, 1165, 3))...)
	r := Check(run, params)
	requireViolation(t, r, "both held a lease for 45ms")
	if r.MaxOverlap != 45*time.Millisecond {
		t.Fatalf("max overlap %s", r.MaxOverlap)
	}
}

// Every overlap is reported by default, however short; Tolerance hides
// the short ones.
func TestCheck_ShortOverlapIsReportedUnlessTolerated(t *testing.T) {
	run := healthy()
	// 0.5ms of overlap: n1's last deadline is 1095ms.
	l := logf(lease(0, 0, 3))[0]
	l.T, l.Fields["deadline"] = 1094500000, fmt.Sprint(1200*ms)
	run.Nodes["n2"] = append(run.Nodes["n2"], l)
	r := Check(run, params)
	requireViolation(t, r, "both held a lease for 500µs")
	if r.MaxOverlap != 500*time.Microsecond {
		t.Fatalf("max overlap %s", r.MaxOverlap)
	}
	tolerant := params
	tolerant.Tolerance = time.Millisecond
	requireClean(t, Check(run, tolerant))
}

// A paused leader's last LEAD line stays its last word until SIGCONT,
// when the poller records NOLEAD at once: the claim ends at the lease
// deadline, not at the NOLEAD line.
func TestCheck_PausedLeaderEndsAtDeadline(t *testing.T) {
	run := &Run{
		Nodes: map[string][]Line{
			"n1": logf("START @0 id=n1 term=1 pid=1 rate=1 anchor=0", lease(100, 215, 2), "NOLEAD @500", "TERM @505 term=3"),
			"n2": logf("START @0 id=n2 term=1 pid=2 rate=1 anchor=0", "TERM @400 term=3", lease(420, 535, 3), lease(440, 555, 3)),
		},
		Events: logf("BEGIN @0", "FAULT @101 n=1 kind=pause desc=SIGSTOP n1", "HEAL @500 n=1 kind=pause", "END @550"),
	}
	requireClean(t, Check(run, params))
	// Were the claim cut at NOLEAD, it would overlap n2: the unbounded
	// form (check-quorum disabled) does exactly that.
	run.Nodes["n1"][1].Fields["deadline"] = fmt.Sprint(int64(1) << 62)
	r := Check(run, params)
	requireViolation(t, r, "n1 (term 2) and n2 (term 3) both held a lease")
	if r.UnboundedLeases != 1 {
		t.Fatalf("unbounded leases: %d", r.UnboundedLeases)
	}
}

func TestCheck_UnboundedLeaseEndsAtNextStop(t *testing.T) {
	run := &Run{
		Nodes: map[string][]Line{
			"n1": logf("START @0 id=n1 term=1 pid=1 rate=1 anchor=0", fmt.Sprintf("LEAD @100 term=2 deadline=%d", int64(1)<<62), "KILLED @300"),
			"n2": logf("START @0 id=n2 term=1 pid=2 rate=1 anchor=0", fmt.Sprintf("LEAD @301 term=3 deadline=%d", int64(1)<<62)),
		},
		Events: logf("BEGIN @0", "END @600"),
	}
	r := Check(run, params)
	requireClean(t, r)
	if c := r.Leases["n1"]; len(c) != 1 || c[0].To != 300*ms {
		t.Fatalf("n1 leases %+v", c)
	}
	if c := r.Leases["n2"]; len(c) != 1 || c[0].To != 600*ms {
		t.Fatalf("n2 leases (cut at END) %+v", c)
	}
}

// A node whose clock runs slow reports deadlines in its own clock: the
// real deadline is later, anchor + (d - anchor) / rate.
func TestCheck_SkewedDeadlineIsConverted(t *testing.T) {
	run := &Run{
		Nodes: map[string][]Line{
			// rate 0.9 from anchor 0: a reported 900ms is 1000ms real.
			"n1": logf("START @0 id=n1 term=1 pid=1 rate=0.9 anchor=0", lease(800, 900, 2)),
			"n2": logf("START @0 id=n2 term=1 pid=2 rate=1 anchor=0", lease(950, 1050, 3)),
		},
		Events: logf("BEGIN @0", "END @2000"),
	}
	r := Check(run, params)
	requireViolation(t, r, "both held a lease for 50ms")
	if got := r.Leases["n1"][0].To; got != 1000*ms {
		t.Fatalf("converted deadline %d", got)
	}
	run.Nodes["n1"][0].Fields["rate"] = "1"
	requireClean(t, Check(run, params))
}

func TestCheck_TwoLeadersInOneTermFail(t *testing.T) {
	run := healthy()
	run.Nodes["n3"] = append(run.Nodes["n3"], logf("STATE @2000 from=candidate to=leader term=3")...)
	requireViolation(t, Check(run, params), "term 3 had 2 leaders: n2,n3")
}

func TestCheck_TermRegressionFails(t *testing.T) {
	t.Run("across a restart", func(t *testing.T) {
		run := healthy()
		run.Nodes["n1"] = append(run.Nodes["n1"], logf("KILLED @2000", "START @2100 id=n1 term=2 pid=10 rate=1 anchor=2100")...)
		requireViolation(t, Check(run, params), "n1 restarted at t=2100000000 with term 2 below its earlier term 3")
	})
	t.Run("within a process", func(t *testing.T) {
		run := healthy()
		run.Nodes["n3"] = append(run.Nodes["n3"], logf("TERM @2000 term=2")...)
		requireViolation(t, Check(run, params), "n3: polled term went from 3")
	})
	t.Run("callback lagging the poller is fine", func(t *testing.T) {
		run := healthy()
		run.Nodes["n3"] = append(run.Nodes["n3"], logf("LEADER @1296 leader=- term=2")...)
		requireClean(t, Check(run, params))
	})
}

func TestCheck_Failover(t *testing.T) {
	run := &Run{
		Nodes: map[string][]Line{
			"n1": logf("START @0 id=n1 term=1 pid=1 rate=1 anchor=0", lease(10, 120, 2), "NOLEAD @130"),
			"n2": logf("START @0 id=n2 term=1 pid=2 rate=1 anchor=0", lease(700, 815, 3)),
		},
		Events: logf("BEGIN @0", "FAULT @20 n=1 kind=partition desc=x", "HEAL @400 n=1 kind=partition", "END @3000"),
	}
	r := Check(run, params)
	requireClean(t, r)
	if f := r.Failovers[0]; f.LeaderAtHeal || f.Took != 300*time.Millisecond {
		t.Fatalf("failover %+v", f)
	}
	// The same leader 2s after the heal: over the 1.8s bound.
	run.Nodes["n2"] = logf("START @0 id=n2 term=1 pid=2 rate=1 anchor=0", lease(2400, 2515, 3))
	requireViolation(t, Check(run, params), "fault 1 (partition): leader 2s after the heal, bound 1.8s")
	// No leader at all.
	run.Nodes["n2"] = logf("START @0 id=n2 term=1 pid=2 rate=1 anchor=0")
	requireViolation(t, Check(run, params), "fault 1 (partition): no leader after the heal")
}

func TestCheck_RejoinDisruption(t *testing.T) {
	mk := func(kind string) *Run {
		n1 := []string{"START @0 id=n1 term=1 pid=1 rate=1 anchor=0"}
		for t := int64(100); t < 1000; t += 20 {
			n1 = append(n1, lease(t, t+115, 2))
		}
		return &Run{
			Nodes: map[string][]Line{
				"n1": logf(n1...),
				// n3 was cut off; 50ms after the heal it is at term 3.
				"n3": logf("START @0 id=n3 term=1 pid=3 rate=1 anchor=0", "TERM @100 term=2", "TERM @550 term=3"),
			},
			Events: logf("BEGIN @0", "FAULT @200 n=1 kind="+kind+" desc=x", "HEAL @500 n=1 kind="+kind, "END @1000"),
		}
	}
	requireViolation(t, Check(mk("partition"), params), "fault 1 (partition): n3 raised the term to 3 50ms after the heal while n1 led term 2")
	// A leader whose lease ran out first (its last one, seen at 420ms, ends
	// at 535ms: it stalled) may be replaced.
	stalled := mk("partition")
	stalled.Nodes["n1"] = slices.DeleteFunc(stalled.Nodes["n1"], func(l Line) bool { return l.Kind == "LEAD" && l.T > 420*ms })
	r := Check(stalled, params)
	requireClean(t, r)
	if !r.Failovers[0].LeaderAtHeal {
		t.Fatal("n1 held its lease at the heal, yet the run has no leader in office")
	}
	// Loss is not a rejoin: an election begun under loss may end later.
	requireClean(t, Check(mk("loss"), params))
	// Outside the window (900ms) it is not counted.
	run := mk("kill")
	run.Nodes["n3"][2].T = 1450 * ms
	run.Events[3].T = 2000 * ms
	if r := Check(run, params); len(r.Disruptions) != 0 {
		t.Fatalf("disruptions %+v", r.Disruptions)
	}
}

// A leader killed just before the heal of another fault still has a lease
// on paper, but is not in office: the election that follows is no rejoin
// disruption.
func TestCheck_KilledLeaderIsNotInOffice(t *testing.T) {
	run := &Run{
		Nodes: map[string][]Line{
			"n1": logf("START @0 id=n1 term=1 pid=1 rate=1 anchor=0", lease(100, 215, 2), lease(120, 235, 2), "KILLED @130", "START @230 id=n1 term=2 pid=5 rate=0.991 anchor=230"),
			"n2": logf("START @0 id=n2 term=1 pid=2 rate=1 anchor=0", "TERM @100 term=2", "TERM @260 term=3", lease(270, 385, 3), lease(290, 405, 3)),
		},
		Events: logf("BEGIN @0", "FAULT @125 n=1 kind=skew desc=restart n1 (leader)", "HEAL @230 n=1 kind=skew", "END @300"),
	}
	r := Check(run, params)
	requireClean(t, r)
	if f := r.Failovers[0]; f.LeaderAtHeal || f.Took != 40*time.Millisecond || f.Outage != 140*time.Millisecond {
		t.Fatalf("failover %+v", f)
	}
	// Had n1 lived, renewing its lease, n2's term 3 would be a disruption.
	run.Nodes["n1"] = append(slices.Delete(run.Nodes["n1"], 3, 5), logf(lease(140, 255, 2), lease(160, 275, 2))...)
	requireViolation(t, Check(run, params), "n2 raised the term to 3 30ms after the heal while n1 led term 2")
}

func TestParseLines(t *testing.T) {
	lines, err := ParseLines("FAULT t=5 n=2 kind=oneway desc=drop n1 -> n2\nLEAD t=7 term=3 dead")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Fields["desc"] != "drop n1 -> n2" || lines[0].Int("n") != 2 {
		t.Fatalf("lines %+v", lines)
	}
	if _, err := ParseLines("LEAD t=7 term=3 dead\nNOLEAD t=9\n"); err == nil {
		t.Fatal("a bad line in the middle must be an error")
	}
	if _, err := ParseLine("NOLEAD x=1"); err == nil {
		t.Fatal("a line without t must be an error")
	}
}

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The harness appends KILLED after the node's last line; lines of
	// different writers are sorted by time.
	write("n1.log", "START t=0 id=n1 term=1 pid=1 rate=1 anchor=0\nLEAD t=20 term=2 deadline=100\nTERM t=10 term=2\n")
	write("events.log", "BEGIN t=0\nEND t=200\n")
	run, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := run.Nodes["n1"]; len(got) != 3 || got[1].Kind != "TERM" {
		t.Fatalf("n1 %+v", got)
	}
	if len(run.Events) != 2 {
		t.Fatalf("events %+v", run.Events)
	}
	os.Remove(filepath.Join(dir, "events.log"))
	if _, err := ReadDir(dir); err == nil {
		t.Fatal("a run without events.log must be an error")
	}
}

func TestStats(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := Stats(ds); got != "median 50ms p99 99ms max 100ms" {
		t.Fatal(got)
	}
	if Stats(nil) != "-" {
		t.Fatal("empty")
	}
}
