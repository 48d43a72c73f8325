package main

// The release-build check (-hooks). Every node runs with
// GRAFT_TEST_DISABLE_CHECK_QUORUM=1 and GRAFT_TEST_CLOCK_RATE=hooksRate,
// and the schedule isolates the leader. A library that ignores the
// variables (the released one) behaves as without them: the isolated
// leader's lease ends while the majority elects another, leases are bounded
// by ElectionMin in real time, and the checker finds nothing. A library
// that honours them (the test build) keeps the isolated leader in office
// with an unbounded lease, and with check-quorum on but the clock at 1.9,
// reports deadlines far beyond ElectionMin: the same check then fails,
// which `make test-faults-release` also demands of the test build, so the
// check is known to be able to fail.

import (
	"fmt"
	"time"

	"github.com/graftlib/graft/tests/faults/checker"
)

// hooksRate is far outside any drift bound: a library that honoured it
// would report lease deadlines about 0.9 s beyond ElectionMin per second
// since graft_node_new.
const hooksRate = "1.9"

// hooksEvidence lists what in a run shows the test variables in effect;
// empty when the library ignored them. The isolated leader is the node
// holding a lease at the FAULT event.
func hooksEvidence(run *checker.Run, r *checker.Report) []string {
	var ev []string
	if r.UnboundedLeases > 0 {
		ev = append(ev, fmt.Sprintf("%d unbounded leases: check-quorum was off", r.UnboundedLeases))
	}
	if lim := electionMinMS * time.Millisecond; r.LongestLease > lim {
		ev = append(ev, fmt.Sprintf("a lease of %s, longer than ElectionMin %s: the clock ran at rate %s", r.LongestLease, lim, hooksRate))
	}
	var fault, heal int64
	for _, e := range run.Events {
		switch e.Kind {
		case "FAULT":
			fault = e.T
		case "HEAL":
			heal = e.T
		}
	}
	if fault == 0 || heal == 0 {
		return append(ev, "no isolation in the run")
	}
	var isolated, successor string
	for id := range run.Nodes {
		if r.Held(id, fault) {
			isolated = id
		}
	}
	for id := range run.Nodes {
		if id != isolated && r.Held(id, heal) {
			successor = id
		}
	}
	switch {
	case isolated == "":
		ev = append(ev, "no lease held when the leader was isolated")
	case r.Held(isolated, heal):
		ev = append(ev, fmt.Sprintf("the isolated leader %s still held its lease at the heal", isolated))
	case successor == "":
		ev = append(ev, fmt.Sprintf("the isolated leader %s stepped down, but no other node held a lease at the heal", isolated))
	}
	return append(ev, r.Violations()...)
}
