package checker

import (
	"fmt"
	"testing"
	"time"
)

// ev is a LEASE line at t ms: held, term, the deadline at d ms (plus dus
// microseconds) and the callback's queue delay in microseconds.
func ev(t int64, held, term int, d, dus, cbus int64) string {
	return fmt.Sprintf("LEASE @%d held=%d term=%d deadline=%d cbdelay=%d", t, held, term, d*ms+dus*1000, cbus*1000)
}

// eventRun: n1 acquires term 2 at 100 ms and loses it at its deadline (600
// ms; the callback runs 2 ms late, 1.5 ms of it in the queue), n2 acquires
// term 3 at 750 ms and holds it to the end (1000 ms). extra lines are
// appended to n1's and n2's logs.
func eventRun(n1extra, n2extra []string) *Run {
	n1 := append([]string{"START @0 id=n1 term=1 pid=1 rate=1 anchor=0", ev(100, 1, 2, 215, 0, 5)}, n1extra...)
	n2 := append([]string{"START @0 id=n2 term=1 pid=2 rate=1 anchor=0"}, n2extra...)
	return &Run{
		Nodes:  map[string][]Line{"n1": logf(n1...), "n2": logf(n2...), "n3": logf("START @0 id=n3 term=1 pid=3 rate=1 anchor=0")},
		Events: logf("BEGIN @0", "END @1000"),
	}
}

var (
	lostAtDeadline = ev(602, 0, 2, 600, 0, 1500)
	n2Acquires     = ev(750, 1, 3, 865, 0, 5)
)

func TestEvents_CleanRunPasses(t *testing.T) {
	r := Check(eventRun([]string{lostAtDeadline}, []string{n2Acquires}), params)
	requireClean(t, r)
	if got, want := r.EventLeases["n1"], []Lease{{Node: "n1", Term: 2, From: 100 * ms, To: 600 * ms}}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("n1's event leases: got %+v, want %+v", got, want)
	}
	if got := r.EventLeases["n2"]; len(got) != 1 || got[0].To != 865*ms {
		t.Fatalf("n2's event lease, held at END but never renewed, ends at its deadline: %+v", got)
	}
	if r.LeaseEvents != 3 || len(r.LostDelays) != 1 {
		t.Fatalf("want 3 events and 1 loss at the deadline, got %d and %+v", r.LeaseEvents, r.LostDelays)
	}
	d := r.LostDelays[0]
	if d.Late != 2*time.Millisecond || d.Queue != 1500*time.Microsecond || d.Timer() != 500*time.Microsecond || d.Resumed {
		t.Fatalf("loss delay: %+v", d)
	}
	if r.MinEventHandover != 150*time.Millisecond {
		t.Fatalf("closest handover by events: got %s, want 150ms", r.MinEventHandover)
	}
}

func TestEvents_OverlapFails(t *testing.T) {
	r := Check(eventRun([]string{lostAtDeadline}, []string{ev(550, 1, 3, 665, 0, 5)}), params)
	requireViolation(t, r, "by their lease events, n1 (term 2) and n2 (term 3) both led for 50ms")
}

// A loss delivered late is allowed by as much as it waited in the
// callback queue (graft.h: it may run up to the callback delay after the
// deadline), and by no more than TimerSlack beyond that.
func TestEvents_LateLoss(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lost   string
		params Params
		want   string // "" for clean
	}{
		{"queued on time, run late", ev(640, 0, 2, 600, 0, 39_000), params, ""},
		{"queued 35 ms late", ev(640, 0, 2, 600, 0, 5_000), params, "the loss of term 2 ran 40ms after its deadline"},
		{"queued within a wider slack", ev(640, 0, 2, 600, 0, 5_000), Params{ElectionMax: params.ElectionMax, TimerSlack: 36 * time.Millisecond}, ""},
		{"callback delay unknown", ev(612, 0, 2, 600, 0, -1), params, "queued 12ms late"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(eventRun([]string{tc.lost}, []string{n2Acquires}), tc.params)
			if tc.want == "" {
				requireClean(t, r)
			} else {
				requireViolation(t, r, tc.want)
			}
		})
	}
}

// A node stopped at its deadline gets its loss when it resumes: lateness
// counts from the CONT line.
func TestEvents_LossAtResume(t *testing.T) {
	r := Check(eventRun([]string{"STOPPED @550", "CONT @900", ev(901, 0, 2, 600, 0, 100)}, []string{n2Acquires}), params)
	requireClean(t, r)
	if len(r.LostDelays) != 1 || !r.LostDelays[0].Resumed || r.LostDelays[0].Late != time.Millisecond {
		t.Fatalf("loss at the resume: %+v", r.LostDelays)
	}
	if got := r.EventLeases["n1"]; len(got) != 1 || got[0].To != 600*ms {
		t.Fatalf("a lease ends at its deadline, not at the late loss: %+v", got)
	}
	// Without the pause the same loss is 301 ms late.
	r = Check(eventRun([]string{ev(901, 0, 2, 600, 0, 100)}, []string{n2Acquires}), params)
	requireViolation(t, r, "the loss of term 2 ran 301ms after its deadline")
}

// The node's own step-down ends its lease when it is asked (the loss runs
// after the TimeoutNow is out, and the successor may acquire before it).
func TestEvents_StepDownEndsLease(t *testing.T) {
	n1 := []string{"STEPDOWN @300 t0=299000000 term=2 rc=0 tries=1 delay_us=0 kick=0", ev(306, 0, 2, 415, 0, 5)}
	n2 := []string{ev(305, 1, 3, 420, 0, 5)}
	requireClean(t, Check(eventRun(n1, n2), params))
	// Without the step-down, n1 led until its loss ran, after n2 acquired.
	r := Check(eventRun(n1[1:], n2), params)
	requireViolation(t, r, "by their lease events, n1 (term 2) and n2 (term 3) both led for 1ms")
}

// renewals are the poller's LEAD lines of n1's term 2 from ms `from` to
// `to`, every 20 ms, each with a deadline 115 ms on.
func renewals(from, to int64) []string {
	var out []string
	for t := from; t <= to; t += 20 {
		out = append(out, lease(t, t+115, 2))
	}
	return out
}

// A node killed while it held the lease led until its KILLED line (the
// harness writes it once the process is reaped), or until the lease's
// latest deadline if that came first.
func TestEvents_KilledLeaseEndsAtKill(t *testing.T) {
	restart := "START @800 id=n1 term=2 pid=9 rate=1 anchor=800"
	r := Check(eventRun(append(renewals(100, 680), "KILLED @700", restart), []string{n2Acquires}), params)
	requireClean(t, r)
	if got := r.EventLeases["n1"]; len(got) != 1 || got[0].To != 700*ms {
		t.Fatalf("killed lease: %+v", got)
	}
	r = Check(eventRun(append(renewals(100, 740), "KILLED @760", restart), []string{n2Acquires}), params)
	requireViolation(t, r, "by their lease events, n1 (term 2) and n2 (term 3) both led for 10ms")
	// Reaped late: the last renewal's deadline (615 ms) ends the lease.
	r = Check(eventRun(append(renewals(100, 500), "KILLED @790", restart), []string{n2Acquires}), params)
	requireClean(t, r)
	if got := r.EventLeases["n1"]; len(got) != 1 || got[0].To != 615*ms {
		t.Fatalf("a kill noted after the deadline: %+v", got)
	}
}

func TestEvents_UnpairedFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"lost without acquired", []string{lostAtDeadline, ev(640, 0, 2, 600, 0, 40_000)}, "n1: lost term 2 at t=640000000 without an acquired before it"},
		{"acquired twice", []string{ev(300, 1, 2, 415, 0, 5)}, "n1: acquired term 2 at t=300000000 while term 2's lease (acquired at t=100000000) was never reported lost"},
		{"lost of another term", []string{ev(602, 0, 3, 600, 0, 1500)}, "lost term 3 at t=602000000, but the lease acquired (t=100000000) was of term 2"},
		{"term went down", []string{lostAtDeadline, ev(650, 1, 1, 765, 0, 5), ev(700, 0, 1, 700, 0, 5)}, "acquired term 1 at t=650000000 after term 2: terms went down"},
		{"closed without a loss", []string{"CLOSING @700", "CLOSED @701 rc=0"}, "graft_node_close returned at t=701000000 with term 2's lease never reported lost"},
		{"restarted without a kill", []string{"START @700 id=n1 term=2 pid=9 rate=1 anchor=700"}, "restarted at t=700000000 without a loss or a kill"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireViolation(t, Check(eventRun(tc.lines, nil), params), tc.want)
		})
	}
}

// With check-quorum disabled the deadline is meaningless: the lease runs
// to the loss, and no lateness is measured.
func TestEvents_UnboundedLease(t *testing.T) {
	far := int64(1) << 30 // ms: far beyond unboundedAfter
	r := Check(eventRun([]string{ev(800, 0, 2, far, 0, 5)}, []string{n2Acquires}), params)
	requireViolation(t, r, "by their lease events, n1 (term 2) and n2 (term 3) both led for 50ms")
	if len(r.LostDelays) != 0 {
		t.Fatalf("no lateness for an unbounded lease: %+v", r.LostDelays)
	}
}

// A process that did not run at its deadline (its poller, which runs every
// 250 us, first ran 40 ms later: a loaded machine) is held to the instant
// it ran again; one whose poller ran on time is not excused.
func TestEvents_StarvedProcess(t *testing.T) {
	lost := ev(642, 0, 2, 600, 0, 1000)
	starved := "NOLEAD @641 t0=640000000 last=590000000"
	r := Check(eventRun([]string{starved, lost}, []string{n2Acquires}), params)
	requireClean(t, r)
	if len(r.LostDelays) != 1 || !r.LostDelays[0].Starved || r.LostDelays[0].Late != 2*time.Millisecond {
		t.Fatalf("starved loss: %+v", r.LostDelays)
	}
	onTime := "NOLEAD @600 t0=600100000 last=599800000"
	r = Check(eventRun([]string{onTime, lost}, []string{n2Acquires}), params)
	requireViolation(t, r, "the loss of term 2 ran 42ms after its deadline")
	// The poller's GAP line says the same when it never saw the lease.
	r = Check(eventRun([]string{"GAP @641 from=590000000", lost}, []string{n2Acquires}), params)
	requireClean(t, r)
	if len(r.LostDelays) != 1 || !r.LostDelays[0].Starved || r.LostDelays[0].Late != time.Millisecond {
		t.Fatalf("loss after a gap: %+v", r.LostDelays)
	}
	// A NOLEAD of an earlier lease (its last poll before this lease began)
	// says nothing about this one.
	r = Check(eventRun([]string{"NOLEAD @641 t0=640000000 last=90000000", lost}, []string{n2Acquires}), params)
	requireViolation(t, r, "the loss of term 2 ran 42ms after its deadline")
}
