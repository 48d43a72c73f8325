package main

import (
	"fmt"
	"strings"

	"github.com/graftlib/graft/bench/internal/stat"
)

// Goals of issue 13, µs.
const (
	lostP50Goal   = 1000.0
	lostP99Goal   = 5000.0
	nextP50Goal   = 2.0
	wakeC50Goal   = 100.0
	wakePy50Goal  = 200.0
	eventsNoteFmt = "Three lease probes (bench/probes/lease_probe.c, lease_probe.py) form a cluster (%s); once one holds a fresh lease the harness stops the other two (SIGSTOP), so that the lease runs out at its deadline with no renewal, and reads when the loss reached the program; then the two go on (SIGCONT) and a lease is acquired again, often by the same node in the same term. Each way of learning of the lease runs in processes of its own (a callback and an asyncio reader in one Python process would queue for the GIL behind each other). _Loss_: the CLOCK_MONOTONIC instant the program had it, less the lease's deadline_ns. _wait_lease wake-up_ (C and Python alike): the CLOCK_MONOTONIC instant the blocked graft_node_wait_lease / node.wait_lease() returned (time.monotonic_ns in Python), less the at_ns of the LEASE_ACQUIRED event of its term (Event.at in Python): the instant the node's core emitted it, the `now` of the step that acquired the lease, which the waiting thread reads from the event queue after the return; only waits that began before that instant count. It thus includes the node's loop publishing the lease and the wake of the waiting goroutine and thread, and in Python taking the GIL back. The goal's row for Python is the probe with one thread in node.wait_lease() and no callback (mode wait: it waits in 50 ms slices and reads the queue between them), as a program built around wait_lease is; in the probe with callbacks (mode cb) the state, leader and lease callbacks start at the same instant and the woken waiter queues for the GIL behind them, which the row for reference shows. Not the start of the lease callback: in Python that starts only once its thread holds the GIL, which the woken waiter may hold (a wake-up computed from it came out 0.3 ms *before* the acquisition at p50). _fd readable → next_event_: from epoll_wait returning to the first graft_node_next_event returning, on the thread that slept in epoll_wait: the pop is C code (capi/evq.c) that does not enter the Go runtime (entering it from a thread that slept cost 5–28 µs, 19 µs at p50 when the queue was in Go). Percentiles by nearest rank: below 100 samples p99 is the largest."
)

// eventsTable renders the events section.
func eventsTable(b *strings.Builder, ev *Events) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("")
	p("### Lease events as a program gets them (issue 13)")
	p("")
	p(eventsNoteFmt, ev.Timing)
	p("")
	p("| way | measure | samples | p50 µs | p99 µs | max µs | goal | |")
	p("|---|---|---|---|---|---|---|---|")
	row := func(e EventsRun, what string, xs []float64, goal string, met bool, hasGoal bool) {
		s := stat.Summarize(xs)
		verdict := ""
		if hasGoal {
			verdict = ok(met && s.N > 0)
		}
		p("| %s | %s | %d | %.1f | %.1f | %.1f | %s | %s |", e.Name, what, s.N, s.Median, s.P99, s.Max, goal, verdict)
	}
	for _, e := range ev.Runs {
		if e.Err != "" {
			p("| %s | – | 0 | | | | | **not measured**: %s |", e.Name, e.Err)
			continue
		}
		l := stat.Summarize(e.Lost)
		what := fmt.Sprintf("deadline → loss reported (%d of %d trials reported it)", l.N, e.Trials)
		lostMet := l.Median <= lostP50Goal && l.P99 <= lostP99Goal && e.Missed == 0
		switch {
		case e.Lang == "Python" && (e.Mode == "cb" || e.Mode == "wait"):
			row(e, what, e.Lost, "(for reference)", false, false)
		default:
			row(e, what, e.Lost, "p50 ≤ 1 ms, p99 ≤ 5 ms", lostMet, true)
		}
		if e.Mode == "cb" && e.Lang == "C" {
			row(e, "graft_node_wait_lease wake-up after the core acquired the lease (at_ns)", e.Wake, "p50 ≤ 100 µs", stat.Summarize(e.Wake).Median <= wakeC50Goal, true)
		}
		if e.Mode == "cb" && e.Lang == "Python" {
			row(e, "node.wait_lease() wake-up after the core acquired the lease (Event.at), behind the three callbacks for the GIL", e.Wake, "(for reference)", false, false)
		}
		if e.Mode == "wait" {
			row(e, "node.wait_lease() wake-up after the core acquired the lease (Event.at)", e.Wake, "p50 ≤ 200 µs", stat.Summarize(e.Wake).Median <= wakePy50Goal, true)
		}
		if len(e.Next) > 0 || e.Mode == "fd" {
			row(e, "event fd readable → graft_node_next_event returned", e.Next, "p50 ≤ 2 µs", stat.Summarize(e.Next).Median <= nextP50Goal, true)
		}
	}
}
