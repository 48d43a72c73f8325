package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// priority keeps every thread of the watchdog under SCHED_RR (priority 1,
// the lowest real-time one), or failing that at nice -10, so that a
// machine busy with other work cannot delay its SIGKILL: measured with the
// load average at 9 on 2 cores (the simulator suites of a parallel make
// test), a watchdog at normal priority sent SIGKILL up to 164 ms late.
//
// The policy carries SCHED_FLAG_RESET_ON_FORK, so CMD, forked by the
// watchdog, starts at SCHED_OTHER and nice 0 without a wrapper (one more
// exec of a Go binary cost ~5 ms of the start). The flag also resets the
// threads the Go runtime creates later, so keep re-applies the policy
// whenever the number of threads changed (read on each wake-up, a few a
// second at rest, from /proc/self/stat with one pread into a fixed buffer:
// listing /proc/self/task each time allocated on every wake-up).
//
// Both need CAP_SYS_NICE (or an RLIMIT_RTPRIO / RLIMIT_NICE allowance);
// without it the watchdog runs at normal priority and says so once. The
// watchdog does little work (it sleeps until a deadline or a line from
// graft, and polls every 2 ms only while a run is being stopped), and the
// kernel's real-time throttling caps a runaway at 95% of a core.
type priority struct {
	attr    *unix.SchedAttr // nil: no raise possible
	threads int
	stat    *os.File  // /proc/self/stat, open from the first keep
	buf     [512]byte // its text: the fields up to num_threads fit
}

// raise tries SCHED_RR, then nice -10; it returns a warning or "".
func (p *priority) raise() string {
	for _, a := range []unix.SchedAttr{
		{Policy: unix.SCHED_RR, Priority: 1, Flags: unix.SCHED_FLAG_RESET_ON_FORK},
		{Policy: unix.SCHED_NORMAL, Nice: -10, Flags: unix.SCHED_FLAG_RESET_ON_FORK},
	} {
		p.attr, p.threads = &a, 0
		if err := p.keep(); err == nil {
			return ""
		}
	}
	p.attr = nil
	return "runs at normal priority (SCHED_RR and nice -10 need CAP_SYS_NICE): on a machine short of CPU it may act late"
}

// keep applies the policy to every thread if their number changed.
func (p *priority) keep() error {
	if p.attr == nil {
		return nil
	}
	if n, ok := p.threadCount(); ok && n == p.threads {
		return nil
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		a := *p.attr
		if err := unix.SchedSetAttr(tid, &a, 0); err != nil {
			return fmt.Errorf("graft: watchdog: sched_setattr: %w", err)
		}
	}
	p.threads = len(tasks)
	return nil
}

// threadCount reads num_threads (the 20th field) of /proc/self/stat
// without allocating; ok is false when it cannot (then keep lists the
// threads).
func (p *priority) threadCount() (n int, ok bool) {
	if p.stat == nil {
		f, err := os.Open("/proc/self/stat")
		if err != nil {
			return 0, false
		}
		p.stat = f
	}
	m, err := p.stat.ReadAt(p.buf[:], 0)
	if m == 0 && err != nil {
		return 0, false
	}
	return statThreads(p.buf[:m])
}

// statThreads parses num_threads (field 20) from the text of
// /proc/PID/stat.
func statThreads(b []byte) (int, bool) {
	f, ok := statField(b, 20)
	if !ok || len(f) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range f {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
