package main

// The watchdog is the graft binary re-executed in a hidden mode
// (`graft __watchdog`). It, not the graft process, is the parent of CMD:
//
//   - graft sends it "start TERM DEADLINE_NS" and "stop REASON" over a
//     pipe and stores each renewal of the lease in a shared page
//     (leasepage.go; CLOCK_MONOTONIC nanoseconds);
//   - it starts CMD in a process group of its own and, unless renewed,
//     sends SIGTERM to the group TermLead before the deadline and SIGKILL
//     to the group and every descendant KillMargin before it, whatever
//     graft is doing: a graft process that is stopped (SIGSTOP), stuck in
//     a GC or a stalled disk write cannot stretch the child's life, because
//     the process that enforces the deadline is not the one that is paused;
//   - it is a subreaper (PR_SET_CHILD_SUBREAPER), so a grandchild whose
//     parent died is re-parented to it, not to init, and is found by the
//     walk of /proc below it, also when it left the group (setsid);
//   - it sits in a process group of its own, so a terminal's Ctrl-Z or
//     Ctrl-C to graft's group does not stop or kill it;
//   - when graft dies (the pipe reaches EOF) it stops the child at once
//     (SIGTERM, SIGKILL after the grace or at the deadline) and exits;
//     when the watchdog itself dies, CMD gets SIGKILL (PR_SET_PDEATHSIG)
//     and graft, also a subreaper, sees the pipe close and gives up.
//
// A subreaper was chosen over a cgroup: it needs no privilege and no
// delegated cgroup tree (graft runs as any user, in containers too), and
// with the /proc walk it finds every process below the watchdog. A process
// in uninterruptible sleep (D state, e.g. on a hung NFS mount) dies only
// when the kernel call returns: no signal can do better; only the fencing
// token (GRAFT_TERM) covers that case and a whole-machine pause.

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watchdog is the state of the watchdog process.
type watchdog struct {
	node       string
	grace      time.Duration
	termLead   time.Duration // SIGTERM this long before the deadline
	killMargin time.Duration // SIGKILL this long before the deadline
	path       string
	argv       []string
	self       string     // this binary: CMD starts as `graft __exec PATH ARGV...`
	events     *os.File   // to graft
	lease      *leasePage // the lease's renewals, from graft

	run *childRun // nil while idle
}

// childRun is one run of CMD, from start until its whole tree is gone.
type childRun struct {
	pid      int
	term     uint64
	deadline int64 // CLOCK_MONOTONIC ns
	started  int64
	termSent int64 // 0 until SIGTERM
	killSent int64 // 0 until SIGKILL
	reason   string
	status   int
	exited   bool // the leader was reaped
	onItsOwn bool // it exited before anything stopped it
}

// watchdogMain is `graft __watchdog NODE GRACE TERMLEAD KILLMARGIN PATH ARGV...`;
// fd 3 carries commands from graft, fd 4 reports back.
func watchdogMain(args []string) int {
	// PR_SET_PDEATHSIG fires when the thread that forked CMD exits; the Go
	// runtime ends a thread only when a goroutine locked to it (LockOSThread)
	// returns, which the watchdog never does, so it locks none.
	var err error
	if len(args) < 6 {
		fmt.Fprintln(os.Stderr, "graft: watchdog: not for direct use")
		return 2
	}
	tuneGC(watchdogGCPercent)
	var prio priority
	if msg := prio.raise(); msg != "" {
		fmt.Fprintln(os.Stderr, "graft: watchdog:", msg)
	}
	w := &watchdog{node: args[0], path: args[4], argv: args[5:]}
	for i, d := range []*time.Duration{&w.grace, &w.termLead, &w.killMargin} {
		if *d, err = time.ParseDuration(args[1+i]); err != nil {
			fmt.Fprintln(os.Stderr, "graft: watchdog:", err)
			return 2
		}
	}
	unix.CloseOnExec(cmdFD)
	unix.CloseOnExec(4)
	unix.CloseOnExec(5)
	if w.lease, err = mapLeasePage(5, unix.PROT_READ); err != nil {
		fmt.Fprintln(os.Stderr, "graft: watchdog:", err)
		return 1
	}
	unix.Close(5) // the mapping stays
	w.events = os.NewFile(4, "graft-events")
	if err := becomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "graft: watchdog: PR_SET_CHILD_SUBREAPER:", err)
		return 1
	}
	// SIGTERM too: systemd's KillMode=control-group sends it to every
	// process of the unit; graft, which gets it as well, ends the run.
	// Caught into a channel nobody reads (Notify drops what does not fit),
	// not signal.Ignore: an ignored signal stays ignored across exec, and
	// CMD started with SIGTERM ignored (a shell cannot even trap it) so
	// every stop waited out the grace and ended in SIGKILL; a caught one is
	// reset to its default in the child.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGTSTP, syscall.SIGTTOU, syscall.SIGTTIN)
	chld := make(chan os.Signal, 16)
	signal.Notify(chld, syscall.SIGCHLD)

	// The pipe is read through the runtime's poller (non-blocking), so
	// that between events every thread sleeps: a read blocked in a system
	// call, or a loop of its own in ppoll(2), keeps Go's sysmon thread
	// waking ~1,100 times a second (measured: 1.1% of a core for the
	// leader's watchdog, against 0.1% for this loop).
	_ = unix.SetNonblock(cmdFD, true)
	cmds := os.NewFile(cmdFD, "graft-commands")
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(cmds)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	_ = trimBinary() // start-up is over: at rest the loop below runs little code
	eof := false
	timer := time.NewTimer(time.Hour)
	for {
		if eof && w.run == nil {
			return 0
		}
		timer.Reset(w.nextWake())
		select {
		case l, ok := <-lines:
			if !ok {
				eof, lines = true, nil
				w.stop("graft exited")
				break
			}
			w.command(l)
		case <-chld:
		case <-timer.C:
		}
		w.step()
		_ = prio.keep()
	}
}

// cmdFD is the descriptor of graft's command pipe in the watchdog.
const cmdFD = 3

// command handles one line from graft.
func (w *watchdog) command(l string) {
	f := strings.Fields(l)
	if len(f) == 0 {
		return
	}
	switch f[0] {
	case "start":
		if w.run != nil || len(f) < 3 {
			return
		}
		t, _ := strconv.ParseUint(f[1], 10, 64)
		d, _ := strconv.ParseInt(f[2], 10, 64)
		w.start(t, d)
	case "stop":
		w.stop(strings.Join(f[1:], " "))
	}
}

// start runs CMD with the lease in its environment.
func (w *watchdog) start(term uint64, deadline int64) {
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GRAFT_TERM=") && !strings.HasPrefix(e, "GRAFT_NODE_ID=") && !strings.HasPrefix(e, "GRAFT_LEASE_DEADLINE_NS=") {
			env = append(env, e)
		}
	}
	env = append(env, "GRAFT_TERM="+strconv.FormatUint(term, 10), "GRAFT_NODE_ID="+w.node,
		"GRAFT_LEASE_DEADLINE_NS="+strconv.FormatInt(deadline, 10))
	now := monoNow()
	if deadline-int64(w.termLead) <= now {
		w.report("ended %d %s %d", term, "stopped", 0)
		return
	}
	pid, err := syscall.ForkExec(w.path, w.argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "graft: node %s term %d: cannot start %s: %v\n", w.node, term, w.path, err)
		w.report("ended %d exit 127", term)
		return
	}
	// ForkExec returns once the exec succeeded (CLONE_VFORK): CMD runs.
	now = monoNow()
	w.run = &childRun{pid: pid, term: term, deadline: deadline, started: now}
	w.report("started %d %d %d", pid, term, now)
}

// stop begins the end of the run: SIGTERM to the group now, SIGKILL after
// the grace or at the deadline, whichever comes first.
func (w *watchdog) stop(reason string) {
	r := w.run
	if r == nil || r.termSent != 0 {
		return
	}
	r.reason = reason
	r.termSent = monoNow()
	killTree(os.Getpid(), r.pid, unix.SIGTERM)
}

// killAt is when the run gets SIGKILL.
func (w *watchdog) killAt() int64 {
	r := w.run
	at := r.deadline - int64(w.killMargin)
	if r.termSent != 0 && r.termSent+int64(w.grace) < at {
		at = r.termSent + int64(w.grace)
	}
	return at
}

// refresh takes the lease's latest deadline from the shared page.
func (w *watchdog) refresh() {
	if r := w.run; r != nil {
		if d, ok := w.lease.load(r.term); ok && d > r.deadline {
			r.deadline = d
		}
	}
}

// nextWake is how long the loop may sleep.
func (w *watchdog) nextWake() time.Duration {
	w.refresh()
	r := w.run
	if r == nil {
		return time.Hour
	}
	if r.termSent != 0 || r.exited {
		return 2 * time.Millisecond // polling for the tree to be gone
	}
	next := time.Duration(min(r.deadline-int64(w.termLead), w.killAt()) - monoNow())
	return max(next, 0)
}

// step reaps, applies the deadline and reports a finished run.
func (w *watchdog) step() {
	w.refresh()
	r := w.run
	if r == nil {
		reap(-1)
		return
	}
	if ws, done := reap(r.pid); done {
		r.exited = true
		switch {
		case ws.Exited():
			r.status = ws.ExitStatus()
		case ws.Signaled():
			r.status = 128 + int(ws.Signal())
		}
		if r.termSent == 0 {
			r.onItsOwn = true
			w.stop("exited on its own")
		}
	}
	now := monoNow()
	if r.killSent == 0 && now >= w.killAt() {
		r.killSent = now
		if r.termSent == 0 {
			r.termSent, r.reason = now, "lease deadline"
		}
	} else if r.termSent == 0 && now >= r.deadline-int64(w.termLead) {
		w.stop("lease about to end")
	}
	if r.killSent != 0 {
		killTree(os.Getpid(), r.pid, unix.SIGKILL)
	}
	if !r.exited || len(descendants(os.Getpid())) > 0 {
		return
	}
	gone := monoNow()
	how := "stopped"
	if r.onItsOwn {
		how = "exit"
	}
	fmt.Fprintf(os.Stderr, "graft: node %s term %d: command (pid %d) ended, status %d (%s); group gone %.1f ms before the lease deadline (SIGTERM %s, SIGKILL %s) gone_ns=%d deadline_ns=%d\n",
		w.node, r.term, r.pid, r.status, r.reason, float64(r.deadline-gone)/1e6,
		ago(r.termSent, gone), ago(r.killSent, gone), gone, r.deadline)
	w.run = nil
	w.report("ended %d %s %d", r.term, how, r.status)
	// The walks of /proc while the group died (every 2 ms, every process
	// of the machine) grew the heap; give it back now that they are over.
	debug.FreeOSMemory()
}

// ago says how long before then the instant at was ("-" if never).
func ago(at, then int64) string {
	if at == 0 {
		return "not sent"
	}
	return fmt.Sprintf("%.1f ms before", float64(then-at)/1e6)
}

// report writes one line to graft (ignored once graft is gone).
func (w *watchdog) report(format string, args ...any) {
	fmt.Fprintf(w.events, format+"\n", args...)
}
