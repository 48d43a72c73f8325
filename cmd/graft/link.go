package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// link is graft's end of the watchdog: the process, the command pipe and
// the events it reports.
type link struct {
	proc   *os.Process
	mu     sync.Mutex // one writer at a time on cmds
	cmds   *os.File
	lease  *leasePage   // the lease, shared with the watchdog
	events chan wdEvent // closed when the watchdog is gone
}

// wdEvent is one line from the watchdog: "started PID TERM NS" or
// "ended TERM exit|stopped STATUS".
type wdEvent struct {
	kind   string
	term   uint64
	pid    int
	at     int64
	how    string
	status int
}

// startWatchdog re-executes this binary as the watchdog of CMD (path, argv).
func startWatchdog(node string, grace, termLead, killMargin time.Duration, path string, argv []string) (*link, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("graft: cannot find its own binary: %w", err)
	}
	cr, cw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	er, ew, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	page, err := newLeasePage()
	if err != nil {
		return nil, err
	}
	pageFile := os.NewFile(uintptr(page.fd), "graft-lease")
	defer pageFile.Close() // the mapping stays
	args := append([]string{"__watchdog", node, grace.String(), termLead.String(), killMargin.String(), path}, argv...)
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{cr, ew, pageFile} // fds 3, 4, 5
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("graft: cannot start the watchdog: %w", err)
	}
	cr.Close()
	ew.Close()
	l := &link{proc: cmd.Process, cmds: cw, lease: page, events: make(chan wdEvent, 16)}
	go func() {
		defer close(l.events)
		sc := bufio.NewScanner(er)
		for sc.Scan() {
			if e, ok := parseEvent(sc.Text()); ok {
				l.events <- e
			}
		}
		_ = cmd.Wait()
	}()
	return l, nil
}

func parseEvent(line string) (wdEvent, bool) {
	f := strings.Fields(line)
	n := func(i int) int64 {
		if i >= len(f) {
			return 0
		}
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return v
	}
	switch {
	case len(f) == 4 && f[0] == "started":
		return wdEvent{kind: "started", pid: int(n(1)), term: uint64(n(2)), at: n(3)}, true
	case len(f) == 4 && f[0] == "ended":
		return wdEvent{kind: "ended", term: uint64(n(1)), how: f[2], status: int(n(3))}, true
	}
	return wdEvent{}, false
}

// send writes one command; an error means the watchdog is gone (its
// events channel closes too).
func (l *link) send(format string, args ...any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := fmt.Fprintf(l.cmds, format+"\n", args...)
	return err
}

// close ends the watchdog: it stops the child, if any, and exits.
func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds.Close()
}
