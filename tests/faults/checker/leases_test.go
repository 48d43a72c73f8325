package checker

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// handover is a 3-node run in handover mode: n1 is elected term 2 at
// 100ms, sees its lease at 101ms (deadline 216ms), renews it at 121ms
// (deadline 236ms) and steps down at once: called at 121.5ms, returned at
// 122ms. n2, its successor, is elected term 3 and sees its lease at 125ms,
// long before n1's last deadline: the step-down is what makes that safe.
func handover() *Run {
	return &Run{
		Nodes: map[string][]Line{
			"n1": logf("START @0 id=n1 term=1 pid=1 rate=1 anchor=0 anchor1=0",
				"STATE @100 from=candidate to=leader term=2",
				"LEAD @101 t0=100900000 term=2 deadline=216000000",
				"LEAD @121 t0=120900000 term=2 deadline=236000000",
				"STEPDOWN @122 t0=121500000 term=2 rc=0 tries=3 delay_us=0",
				"NOLEAD @123 t0=122900000",
				"TERM @124 term=3"),
			"n2": logf("START @0 id=n2 term=1 pid=2 rate=1 anchor=0 anchor1=0",
				"TERM @123 term=3", "STATE @124 from=follower to=leader term=3",
				"LEAD @125 t0=124900000 term=3 deadline=240000000"),
			"n3": logf("START @0 id=n3 term=1 pid=3 rate=1 anchor=0 anchor1=0"),
		},
		Events: logf("BEGIN @0", "END @200"),
	}
}

func TestLeases_StepDownEndsTheLease(t *testing.T) {
	r := Check(handover(), params)
	requireClean(t, r)
	if got := r.Leases["n1"]; len(got) != 1 || got[0].From != 101*ms || got[0].To != 122*ms {
		t.Fatalf("n1 leases %+v, want one from 101ms (first seen) to 122ms (step-down returned)", got)
	}
	if r.MinHandover != 3*time.Millisecond {
		t.Fatalf("closest handover %s", r.MinHandover)
	}
	if len(r.StepDowns) != 1 || r.StepDowns[0] != 22*time.Millisecond {
		t.Fatalf("step-downs %v", r.StepDowns)
	}
}

// A step-down that returns late (its thread stalled) ends the lease at the
// later of its call and the last poll that saw the lease, not at its
// return.
func TestLeases_LateStepDownReturn(t *testing.T) {
	run := handover()
	n1 := run.Nodes["n1"]
	n1[4] = logf("STEPDOWN @130 t0=121500000 term=2 rc=0 tries=1 delay_us=0")[0]
	n1[5] = logf("NOLEAD @123 t0=122900000 last=122100000")[0]
	slices.SortStableFunc(n1, func(a, b Line) int { return int(a.T - b.T) })
	r := Check(run, params)
	requireClean(t, r)
	if got := r.Leases["n1"]; len(got) != 1 || got[0].To != 122100000 {
		t.Fatalf("n1 leases %+v, want the last poll that saw the lease (122.1ms) as the end", got)
	}
	// A NOLEAD whose last poll saw the lease after n2's began: overlap.
	nolead := slices.IndexFunc(n1, func(l Line) bool { return l.Kind == "NOLEAD" })
	n1[nolead].Fields["last"] = "125500000"
	requireViolation(t, Check(run, params), "n1 (term 2) and n2 (term 3) both held a lease for 500µs")
}

// Without a successful step-down the lease runs to its latest deadline:
// n2's lease overlaps it.
func TestLeases_FailedStepDownKeepsTheLease(t *testing.T) {
	for _, change := range []string{"no step-down", "rc=-11 (no peer)", "step-down in another term"} {
		run := handover()
		sd := &run.Nodes["n1"][4]
		switch change {
		case "no step-down":
			sd.Kind = "CLOSING"
		case "rc=-11 (no peer)":
			sd.Fields["rc"] = "-11"
		default:
			sd.Fields["term"] = "1"
		}
		r := Check(run, params)
		requireViolation(t, r, "n1 (term 2) and n2 (term 3) both held a lease for 75ms")
	}
}

// A poll that began before the step-down returned may log a renewal
// after it: that lease ended at the step-down too.
func TestLeases_PollBegunBeforeStepDown(t *testing.T) {
	run := handover()
	run.Nodes["n1"] = slices.Insert(run.Nodes["n1"], 5, logf("LEAD @123 t0=121900000 term=2 deadline=238000000")...)
	r := Check(run, params)
	requireClean(t, r)
	if got := r.Leases["n1"]; len(got) != 1 || got[0].To != 122*ms {
		t.Fatalf("n1 leases %+v", got)
	}
}

// A poll begun before the step-down was called and returned after it may
// already find the lease gone: its NOLEAD ends this lease, not the NOLEAD
// of a later one (which stretched n1's term-2 lease to 259.5 ms, over n2's).
func TestLeases_SlowPollAcrossStepDown(t *testing.T) {
	run := handover()
	n1 := run.Nodes["n1"]
	n1[5] = logf("NOLEAD @123 t0=121400000 last=121000000")[0]
	run.Nodes["n1"] = append(n1, logf("TERM @245 term=4", "STATE @249 from=candidate to=leader term=4",
		"LEAD @250 t0=249900000 term=4 deadline=365000000",
		"STEPDOWN @260 t0=259000000 term=4 rc=0 tries=1 delay_us=0",
		"NOLEAD @261 t0=260500000 last=259500000")...)
	run.Events = logf("BEGIN @0", "END @400")
	r := Check(run, params)
	requireClean(t, r)
	if got := r.Leases["n1"]; len(got) != 2 || got[0].To != 121500000 || got[1].To != 259500000 {
		t.Fatalf("n1 leases %+v, want term 2's to end at the step-down's call (121.5 ms)", got)
	}
}

// Issue 12, F1: after handing over, n1 is re-elected in term 2 by a late
// vote and holds a fresh lease while n2 holds term 3's.
func TestLeases_ReLeadAfterStepDownFails(t *testing.T) {
	run := handover()
	run.Nodes["n1"] = append(run.Nodes["n1"], logf(
		"STATE @124 from=follower to=leader term=2",
		"LEAD @126 t0=125900000 term=2 deadline=241000000")...)
	r := Check(run, params)
	requireViolation(t, r, "n1 led term 2 again at t=124000000 (STATE) after stepping down in it at t=122000000")
	requireViolation(t, r, "n1 (term 2) and n2 (term 3) both held a lease for 74ms")
	// The lease alone, without the callback, is evidence too.
	run.Nodes["n1"] = append(run.Nodes["n1"][:7], run.Nodes["n1"][8])
	requireViolation(t, Check(run, params), "n1 led term 2 again at t=126000000 (LEAD)")
}

// A skewed node's anchor lies between anchor and anchor1: the conversion
// takes the one giving the later deadline.
func TestLeases_SkewConversionTakesTheLaterEnd(t *testing.T) {
	for _, tc := range []struct {
		rate string
		want int64 // real deadline, ms
	}{
		// d=1009ms from anchor 0 (rate 1.009): 1000ms real; from anchor
		// 100ms: 100 + 909/1.009 = 1000.89ms, the later.
		{"1.009", 1000891972},
		// d=991ms (rate 0.991): from anchor 0, 1000ms real, the later;
		// from 100ms, 100 + 891/0.991 = 999.09ms.
		{"0.991", 1000 * ms},
	} {
		d := map[string]string{"1.009": "1009000000", "0.991": "991000000"}[tc.rate]
		run := &Run{
			Nodes: map[string][]Line{
				"n1": logf("START @0 id=n1 term=1 pid=1 rate="+tc.rate+" anchor=0 anchor1=100000000",
					"LEAD @900 t0=899000000 term=2 deadline="+d),
			},
			Events: logf("BEGIN @0", "END @2000"),
		}
		r := Check(run, params)
		if got := r.Leases["n1"][0].To; got != tc.want {
			t.Errorf("rate %s: real deadline %d, want %d", tc.rate, got, tc.want)
		}
	}
}

func TestLeases_LongestLeaseAndHeld(t *testing.T) {
	r := Check(handover(), params)
	if r.LongestLease != 115*time.Millisecond {
		t.Fatalf("longest lease %s", r.LongestLease)
	}
	if !r.Held("n1", 110*ms) || r.Held("n1", 122*ms) || !r.Held("n2", 130*ms) || r.Held("n3", 130*ms) {
		t.Fatal("Held disagrees with the leases")
	}
	if s := r.Summary(); !strings.Contains(s, "step-downs right after an election: 1") {
		t.Fatalf("summary:\n%s", s)
	}
}
