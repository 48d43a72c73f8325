package main

import (
	"fmt"
	"log"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/graftlib/graft/bench/internal/cluster"
	"github.com/graftlib/graft/bench/internal/stat"
	"github.com/graftlib/graft/bench/internal/testbed"
)

// The events rows (issue 13): three lease probes (bench/probes/
// lease_probe.c, or lease_probe.py) form a cluster; once one holds the
// lease the harness stops the other two (SIGSTOP), so that the lease runs
// out at its deadline with no renewal, and the probe reports when the loss
// reached it (callback, event descriptor, asyncio task); then it lets them
// go on (SIGCONT) and a new lease is acquired, whose wake-up of
// graft_node_wait_lease / Node.wait_lease the new holder reports.

// EventsRun is one way of learning of the lease (a language and a mode of
// the probe), its samples in µs.
type EventsRun struct {
	Lang   string `json:"lang"`
	Mode   string `json:"mode"` // cb, fd (C), aio, wait (Python)
	Name   string `json:"name"`
	Trials int    `json:"trials"`
	Missed int    `json:"trials_without_loss"` // no fresh lease, or its loss unreported
	// Deadline to the loss reaching the program: the lease callback (cb),
	// graft_node_next_event returning it in an epoll loop (fd), a task of
	// graft.aio.events getting it (aio).
	Lost []float64 `json:"lost_after_deadline_us"`
	// cb: graft_node_wait_lease (Node.wait_lease) returning, after the
	// node's core emitted the lease's "acquired" (its at_ns, Event.at).
	Wake []float64 `json:"wait_lease_wake_us,omitempty"`
	// fd: epoll_wait on the event descriptor returned → the first
	// graft_node_next_event returned.
	Next []float64 `json:"fd_readable_to_next_event_us,omitempty"`
	Err  string    `json:"error,omitempty"`
}

// Events is the events section's result.
type Events struct {
	Timing string      `json:"timing"`
	Runs   []EventsRun `json:"runs"`
}

// eventsSection runs trials per way; errors end a way early and are
// recorded.
func eventsSection(env *testbed.Env, root, python string, trials int) Events {
	r := Events{Timing: "default timings: heartbeat 50 ms, election 300–450 ms"}
	probe := filepath.Join(env.Bin, "lease_probe")
	build := filepath.Join(root, "build")
	cc := exec.Command("cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE", "-O2", "-I"+filepath.Join(root, "include"),
		"-o", probe, filepath.Join(root, "bench", "probes", "lease_probe.c"), "-L"+build, "-lgraft", "-Wl,-rpath,"+build, "-lpthread")
	cErr := ""
	if out, err := cc.CombinedOutput(); err != nil {
		cErr = fmt.Sprintf("cc lease_probe.c: %v: %s", err, out)
	}
	c := func(a []string) (string, []string) { return probe, a }
	py := func(a []string) (string, []string) {
		return "/usr/bin/env", append([]string{"PYTHONPATH=" + filepath.Join(root, "bindings", "python"),
			"GRAFT_LIBRARY=" + filepath.Join(build, "libgraft.so"), python, filepath.Join(root, "bench", "probes", "lease_probe.py")}, a...)
	}
	ways := []struct {
		lang, mode, name string
		cmd              func(args []string) (string, []string)
		err              string
	}{
		{"C", "cb", "C, lease callback; a thread in graft_node_wait_lease", c, cErr},
		{"C", "fd", "C, epoll loop on graft_node_event_fd", c, cErr},
		{"Python", "cb", "Python, on_lease callback; a thread in node.wait_lease()", py, ""},
		{"Python", "aio", "Python, an asyncio task on graft.aio.events", py, ""},
		{"Python", "wait", "Python, one thread in node.wait_lease(), no callback", py, ""},
	}
	for _, w := range ways {
		e := EventsRun{Lang: w.lang, Mode: w.mode, Name: w.name, Err: w.err}
		if e.Err == "" {
			log.Printf("events: %s: %d leases run out", w.name, trials)
			cmd := w.cmd
			if err := eventsTrials(env, func(a []string) (string, []string) { return cmd(append([]string{w.mode}, a...)) }, trials, &e); err != nil {
				e.Err = err.Error()
			}
		}
		if e.Err != "" {
			log.Printf("  %s: %s", w.name, e.Err)
		}
		log.Printf("  %s", e.line())
		r.Runs = append(r.Runs, e)
	}
	return r
}

func (e EventsRun) line() string {
	l := stat.Summarize(e.Lost)
	s := fmt.Sprintf("%s: deadline → loss reported p50 %.0f µs, p99 %.0f µs (%d of %d trials)", e.Name, l.Median, l.P99, l.N, e.Trials)
	if w := stat.Summarize(e.Wake); w.N > 0 {
		s += fmt.Sprintf("; wait_lease wake-up p50 %.1f µs, p99 %.1f µs (%d)", w.Median, w.P99, w.N)
	}
	if n := stat.Summarize(e.Next); n.N > 0 {
		s += fmt.Sprintf("; fd readable → next_event returned p50 %.2f µs, p99 %.2f µs (%d)", n.Median, n.P99, n.N)
	}
	return s
}

func eventsTrials(env *testbed.Env, cmd func([]string) (string, []string), trials int, e *EventsRun) error {
	dir, err := env.Dir("events-" + e.Lang + "-" + e.Mode)
	if err != nil {
		return err
	}
	ids := testbed.IDs(3)
	listen, err := testbed.Addrs("udp", ids)
	if err != nil {
		return err
	}
	c := cluster.New(cluster.Spec{Name: "events-" + e.Lang + "-" + e.Mode, IDs: ids, Log: env.Log, Command: func(id string) (string, []string) {
		args := []string{id, listen[id], filepath.Join(dir, id+".state"), env.Certs()}
		for _, p := range ids {
			if p != id {
				args = append(args, p+"="+listen[p])
			}
		}
		return cmd(args)
	}})
	defer c.Close()
	if _, err := c.StartAll(); err != nil {
		return err
	}
	resumed := 0.0 // when the stopped nodes last went on (ms)
	for i := 0; i < trials; i++ {
		e.Trials++
		l, term, err := freshLease(c, resumed, 20*time.Second)
		if err != nil {
			e.Missed++
			log.Printf("  %s trial %d: %v", e.Name, i, err)
			continue
		}
		var others []string
		stopped := math.Inf(1)
		for _, id := range ids {
			if id != l {
				others = append(others, id)
				t, _ := c.Signal(id, syscall.SIGSTOP)
				stopped = min(stopped, t)
			}
		}
		// This term's loss, reported after the stop (ms against ns).
		lost, err := waitFor(c, l, "LOST", func(f map[string]string) bool {
			return f["term"] == strconv.FormatUint(term, 10) && num(f, "ns")/1e6 >= stopped
		}, 5*time.Second)
		resumed = math.Inf(1)
		for _, id := range others {
			t, _ := c.Signal(id, syscall.SIGCONT)
			resumed = min(resumed, t)
		}
		if err != nil {
			e.Missed++
			log.Printf("  %s trial %d: the lease of %s at term %d ran out unreported: %v", e.Name, i, l, term, err)
			continue
		}
		e.Lost = append(e.Lost, (num(lost, "ns")-num(lost, "deadline_ns"))/1e3)
	}
	// Every wake-up of wait_lease that was waiting before its lease was
	// acquired: the call's return less the at_ns of the LEASE_ACQUIRED of
	// its term that the core emitted after the call began (the probe reads
	// it from the event queue after the return; no at_ns: none came, the
	// lease was held before the call).
	for _, id := range ids {
		for _, w := range linesOf(c, id, "WAKE") {
			if w["at_ns"] != "" {
				e.Wake = append(e.Wake, (num(w, "ns")-num(w, "at_ns"))/1e3)
			}
		}
		for _, n := range linesOf(c, id, "NEXT") {
			e.Next = append(e.Next, num(n, "ns")/1e3)
		}
	}
	return nil
}

// freshLease waits for a leader every node names, whose lease reached it
// (an ACQ line of its term) after since (ms), and returns it and the term.
func freshLease(c *cluster.Cluster, since float64, timeout time.Duration) (string, uint64, error) {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		l, err := c.WaitStable(time.Until(end), quiet, true)
		if err != nil {
			break
		}
		term := c.Node(l).Term
		for _, a := range linesOf(c, l, "ACQ") {
			if a["term"] == strconv.FormatUint(term, 10) && num(a, "ns")/1e6 > since {
				return l, term, nil
			}
		}
		time.Sleep(10 * time.Millisecond) // polling period
	}
	return "", 0, fmt.Errorf("no leader with a fresh lease within %s", timeout)
}

// waitFor waits until node id prints a line of kind for which match holds,
// and returns the first.
func waitFor(c *cluster.Cluster, id, kind string, match func(map[string]string) bool, timeout time.Duration) (map[string]string, error) {
	end := time.Now().Add(timeout)
	for {
		for _, f := range linesOf(c, id, kind) {
			if match(f) {
				return f, nil
			}
		}
		if time.Now().After(end) {
			return nil, fmt.Errorf("%s printed no matching %s line within %s", id, kind, timeout)
		}
		time.Sleep(2 * time.Millisecond) // polling period
	}
}
