package main

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"github.com/graftlib/graft/internal/monotime"
	"golang.org/x/sys/unix"
)

// monoNow reads CLOCK_MONOTONIC in nanoseconds: the clock of
// GRAFT_LEASE_DEADLINE_NS and of the pipe between graft and its watchdog.
func monoNow() int64 { return monotime.Now() }

// monoNS converts an instant of election.SystemClock to CLOCK_MONOTONIC ns
// (early, never late: see monotime.FromSystemClock).
func monoNS(d time.Duration) int64 { return monotime.FromSystemClock(d) }

// statField returns field n (numbered from 1, as in proc(5); n >= 3) of
// the text of /proc/PID/stat, without allocating. Field 2, the command
// name, is in parentheses and may hold spaces and ')': the fields after it
// begin after the last ')', one space apart.
func statField(b []byte, n int) ([]byte, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	for field, rest := 2, b[i+1:]; len(rest) > 0 && rest[0] == ' '; field++ {
		rest = rest[1:]
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		if field+1 == n {
			return bytes.TrimRight(rest[:end], "\n"), true
		}
		rest = rest[end:]
	}
	return nil, false
}

// descendants returns the live (not zombie) processes below pid, read from
// /proc: every process whose chain of parents reaches pid.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		state, ok1 := statField(b, 3)
		ppid, ok2 := statField(b, 4)
		if !ok1 || !ok2 || string(state) == "Z" || string(state) == "X" {
			continue
		}
		pp, _ := strconv.Atoi(string(ppid))
		parent[p] = pp
	}
	var out []int
	for p := range parent {
		for q, n := parent[p], 0; n < 64 && q > 1; q, n = parent[q], n+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// killTree sends sig to the process group pgid and to every live
// descendant of pid (grandchildren that left the group, or that were
// re-parented to pid, a subreaper, when their parent died).
func killTree(pid, pgid int, sig unix.Signal) int {
	if pgid > 0 {
		_ = unix.Kill(-pgid, sig)
	}
	d := descendants(pid)
	for _, p := range d {
		_ = unix.Kill(p, sig)
	}
	return len(d)
}

// reap collects every exited child of this process without blocking and
// reports the status of want if it was among them.
func reap(want int) (status unix.WaitStatus, done bool) {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if p <= 0 || err != nil {
			return status, done
		}
		if p == want {
			status, done = ws, true
		}
	}
}

// becomeSubreaper makes this process the parent of every orphan below it
// (PR_SET_CHILD_SUBREAPER), so that a grandchild whose parent died stays
// in reach instead of moving to init.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}
