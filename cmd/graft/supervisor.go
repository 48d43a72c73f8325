package main

import (
	"os"
	"sync"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

// supervisor runs CMD (through the watchdog) while the node holds the
// lease. Its loop is the only goroutine that changes its fields; the HTTP
// handlers read them under mu.
type supervisor struct {
	s      *settings
	node   *election.Node
	tr     *transport.QUIC
	wd     *link
	leases chan leaseEvent

	mu         sync.Mutex
	running    bool   // a run is under way in the watchdog (start sent, ended not seen)
	stopSent   bool   // "stop" sent for the current run
	runTerm    uint64 // the term the run was started in
	runPID     int
	runs       uint64 // runs started
	lastStatus int    // exit status of the last run (-1 none)
	sent       int64  // last deadline sent to the watchdog (CLOCK_MONOTONIC ns)
	skipTerm   uint64 // after --on-exit=step-down: no new run in this term
	retryAt    time.Time
	runStart   time.Time
	shutting   bool
	exitCode   int
	leaseAt    int64 // when the current lease was reported (monotonic ns)
	startDelay time.Duration
}

// leaseEvent is one OnLease call.
type leaseEvent struct {
	held bool
	term uint64
	at   int64
}

func newSupervisor(s *settings) *supervisor {
	return &supervisor{s: s, leases: make(chan leaseEvent, 64), lastStatus: -1}
}

// loop runs until graft is told to stop (or, with --on-exit=exit, CMD
// exits) and returns the exit status.
func (sup *supervisor) loop(sigs <-chan os.Signal) int {
	// The lease's deadline moves at each acknowledged heartbeat; forwarding
	// it every half heartbeat keeps the watchdog's copy at most that stale
	// (a stale copy is early, never late), far inside the third of the
	// lease before SIGTERM. A quarter heartbeat cost the leader's graft
	// and watchdog 1.65% of a core at rest against 1.15% for a library
	// node. The ticker runs only while a run is under way.
	every := max(sup.s.Heartbeat/2, 5*time.Millisecond)
	renew := time.NewTicker(every)
	renew.Stop()
	ticking := false
	defer renew.Stop()
	stepDown := make(chan error, 1)
	for {
		var retry <-chan time.Time
		if d := time.Until(sup.retryAt); d > 0 {
			retry = time.After(d)
		}
		select {
		case ev := <-sup.leases:
			sup.mu.Lock()
			if ev.held {
				sup.leaseAt = ev.at
			} else {
				sup.stop("lease lost")
			}
			sup.mu.Unlock()
		case e, ok := <-sup.wd.events:
			if !ok {
				logf("the watchdog is gone: stopping")
				sup.node.Close()
				killTree(os.Getpid(), 0, 9)
				return 1
			}
			sup.event(e, stepDown)
		case err := <-stepDown:
			sup.mu.Lock()
			if err != nil {
				logf("step-down after the command exited: %v; running it again in %s", err, sup.s.ElectionMax)
				sup.skipTerm, sup.retryAt = 0, time.Now().Add(sup.s.ElectionMax)
			}
			sup.mu.Unlock()
		case sig := <-sigs:
			logf("%s: stopping the command and handing over", sig)
			sup.mu.Lock()
			sup.shutting = true
			sup.stop("graft stopping")
			sup.mu.Unlock()
		case <-renew.C:
			sup.renew()
		case <-retry:
		}
		sup.mu.Lock()
		done := sup.shutting && !sup.running
		sup.mu.Unlock()
		if done {
			break
		}
		sup.maybeStart()
		sup.mu.Lock()
		if sup.running != ticking {
			if ticking = sup.running; ticking {
				renew.Reset(every)
			} else {
				renew.Stop()
			}
		}
		sup.mu.Unlock()
	}
	sup.node.Close() // hands leadership over when it leads
	sup.wd.close()
	for range sup.wd.events { // the watchdog exits once its run is over
	}
	return sup.exitCode
}

// event handles a report of the watchdog.
func (sup *supervisor) event(e wdEvent, stepDown chan<- error) {
	sup.mu.Lock()
	defer sup.mu.Unlock()
	switch e.kind {
	case "started":
		sup.runPID = e.pid
		if sup.leaseAt != 0 {
			sup.startDelay = time.Duration(e.at - sup.leaseAt)
			logf("node %s term %d: command started (pid %d) %.2f ms after the lease lease_ns=%d", sup.s.ID, e.term, e.pid, float64(sup.startDelay)/1e6, sup.leaseAt)
			sup.leaseAt = 0
		}
	case "ended":
		sup.running, sup.runPID, sup.lastStatus = false, 0, e.status
		if e.how != "exit" {
			// Stopped for the lease (or refused: the deadline was within
			// the SIGTERM lead): a heartbeat before trying again, so that a
			// lease in its last moments is not retried in a tight loop.
			sup.retryAt = time.Now().Add(sup.s.Heartbeat)
			return
		}
		if sup.shutting {
			return
		}
		switch sup.s.OnExit {
		case "exit":
			logf("command exited with status %d: exiting (--on-exit=exit)", e.status)
			sup.shutting, sup.exitCode = true, e.status
		case "restart":
			sup.retryAt = sup.runStart.Add(500 * time.Millisecond) // at most two starts a second
		default:
			logf("command exited with status %d: handing leadership over (--on-exit=step-down)", e.status)
			sup.skipTerm = sup.runTerm
			go func() { stepDown <- sup.node.StepDown() }()
		}
	}
}

// stop asks the watchdog to end the run (mu held).
func (sup *supervisor) stop(reason string) {
	if sup.running && !sup.stopSent {
		sup.stopSent = true
		_ = sup.wd.send("stop %s", reason)
	}
}

// renew forwards the lease's current deadline to the watchdog, or stops
// the run when the lease no longer holds.
func (sup *supervisor) renew() {
	sup.mu.Lock()
	defer sup.mu.Unlock()
	if !sup.running {
		return
	}
	term, dl, ok := sup.node.Lease()
	if !ok || term != sup.runTerm {
		sup.stop("lease lost")
		return
	}
	if ns := monoNS(dl); ns > sup.sent {
		sup.sent = ns
		sup.wd.lease.store(term, ns)
	}
}

// maybeStart starts a run when the node holds the lease and nothing holds
// the start back.
func (sup *supervisor) maybeStart() {
	sup.mu.Lock()
	defer sup.mu.Unlock()
	if sup.running || sup.shutting || time.Now().Before(sup.retryAt) {
		return
	}
	term, dl, ok := sup.node.Lease()
	if !ok || term == sup.skipTerm {
		return
	}
	sup.running, sup.stopSent, sup.runTerm, sup.sent = true, false, term, monoNS(dl)
	sup.runStart = time.Now()
	sup.runs++
	sup.wd.lease.store(term, sup.sent)
	_ = sup.wd.send("start %d %d", term, sup.sent)
}
