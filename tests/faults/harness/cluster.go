package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/graftlib/graft/internal/monotime"
	"github.com/graftlib/graft/tests/faults/checker"
)

// Timings of every schedule: short, so that a schedule takes seconds.
const (
	heartbeatMS   = 20
	electionMinMS = 120
	electionMaxMS = 180
	electionMax   = electionMaxMS * time.Millisecond
)

// cluster is the node processes of one schedule.
type cluster struct {
	n       int
	dir     string // logs, state files, events.log
	certs   string
	nodeBin string
	nocq    bool
	hooks   bool // set both GRAFT_TEST_* variables on every node (-hooks)
	// run is the graft-run mode (runmode.go), nil in the library mode;
	// ignoreTerm: the commands ignore SIGTERM.
	run        *runMode
	ignoreTerm bool

	mu     sync.Mutex
	procs  map[int]*exec.Cmd
	rates  map[int]string // GRAFT_TEST_CLOCK_RATE per node, "" for none
	events *os.File
}

func (c *cluster) logPath(i int) string { return filepath.Join(c.dir, fmt.Sprintf("n%d.log", i)) }

// event appends a line to events.log.
func (c *cluster) event(kind, format string, args ...any) {
	line := fmt.Sprintf("%s t=%d", kind, monotime.Now())
	if format != "" {
		line += " " + fmt.Sprintf(format, args...)
	}
	c.events.WriteString(line + "\n")
}

// start starts node i in its namespace.
func (c *cluster) start(i int) error {
	args := []string{"netns", "exec", nsName(i), c.nodeBin,
		"--id", fmt.Sprintf("n%d", i),
		"--listen", fmt.Sprintf("%s:%d", nodeIP(i), nodePort),
		"--state", filepath.Join(c.dir, fmt.Sprintf("n%d.graft", i)),
		"--certs", c.certs,
		"--log", c.logPath(i),
		"--heartbeat-ms", strconv.Itoa(heartbeatMS),
		"--election-min-ms", strconv.Itoa(electionMinMS),
		"--election-max-ms", strconv.Itoa(electionMaxMS),
	}
	args = append(args, "--handover-file", c.handoverFile())
	for j := 1; j <= c.n; j++ {
		if j != i {
			args = append(args, "--peer", fmt.Sprintf("n%d=%s:%d", j, relayIP, listenPort(i, j)))
		}
	}
	if c.run != nil {
		args = c.graftArgs(i)
	}
	cmd := exec.Command("ip", args...) // ip netns exec execs the node: the pid is the node's
	cmd.Env = os.Environ()
	if c.nocq || c.hooks {
		cmd.Env = append(cmd.Env, "GRAFT_TEST_DISABLE_CHECK_QUORUM=1")
	}
	if c.hooks {
		cmd.Env = append(cmd.Env, "GRAFT_TEST_CLOCK_RATE="+hooksRate)
	} else if r := c.rates[i]; r != "" {
		cmd.Env = append(cmd.Env, "GRAFT_TEST_CLOCK_RATE="+r)
	}
	errf, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("n%d.stderr", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = errf, errf
	if err := cmd.Start(); err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[i] = cmd
	c.mu.Unlock()
	return nil
}

// signal sends sig to node i. A SIGSTOP or SIGCONT is noted in its log
// (STOPPED, CONT) with the instant taken before the signal is sent: the
// checker measures how late a lease loss came from the later of its
// deadline and the resume, since a stopped process can report nothing.
func (c *cluster) signal(i int, sig syscall.Signal) error {
	c.mu.Lock()
	cmd := c.procs[i]
	c.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("node %d is not running", i)
	}
	switch sig {
	case syscall.SIGSTOP:
		if err := c.note(i, "STOPPED", monotime.Now()); err != nil {
			return err
		}
	case syscall.SIGCONT:
		if err := c.note(i, "CONT", monotime.Now()); err != nil {
			return err
		}
	}
	return cmd.Process.Signal(sig)
}

// note appends "KIND t=T" to node i's log.
func (c *cluster) note(i int, kind string, t int64) error {
	f, err := os.OpenFile(c.logPath(i), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s t=%d\n", kind, t)
	return err
}

// handoverFile exists while handover mode is on: every node steps down
// right after each election it wins (node.c). The nodes look at it every
// 20 ms and before each step-down, so a node resumed from SIGSTOP sees the
// mode as it is now.
func (c *cluster) handoverFile() string { return filepath.Join(c.dir, "handover") }

// setHandover switches handover mode on or off for every node.
func (c *cluster) setHandover(on bool) error {
	if on {
		return os.WriteFile(c.handoverFile(), nil, 0o644)
	}
	return os.Remove(c.handoverFile())
}

// take removes node i's process from the cluster, to end it.
func (c *cluster) take(i int) (*exec.Cmd, error) {
	c.mu.Lock()
	cmd := c.procs[i]
	delete(c.procs, i)
	c.mu.Unlock()
	if cmd == nil {
		return nil, fmt.Errorf("node %d is not running", i)
	}
	return cmd, nil
}

// waitOrKill waits up to d for cmd to exit, then SIGKILLs it; false if it
// had to.
func waitOrKill(cmd *exec.Cmd, d time.Duration) bool {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return false
	}
}

// kill SIGKILLs node i, waits for it and notes it in its log.
func (c *cluster) kill(i int) error {
	cmd, err := c.take(i)
	if err != nil {
		return err
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Kill()
	cmd.Wait()
	return c.note(i, "KILLED", monotime.Now())
}

// stopAll ends every node: SIGTERM (graft_node_close, or graft run's
// handover), then SIGKILL after a second. In the graft-run mode it then
// waits for the watchdogs and commands to finish (3 s at most).
func (c *cluster) stopAll() {
	defer func() {
		if c.run != nil {
			waitEmpty(3 * time.Second)
		}
	}()
	c.mu.Lock()
	procs := c.procs
	c.procs = map[int]*exec.Cmd{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, cmd := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Signal(syscall.SIGTERM)
			waitOrKill(cmd, time.Second)
		}()
	}
	wg.Wait()
}

// leader returns the node that holds a lease now, by reading the logs: its
// last poller line is a LEAD whose deadline has not passed (with
// check-quorum off the deadline is far away and NOLEAD ends it).
func (c *cluster) leader() (int, bool) {
	if c.run != nil {
		return c.runningChild()
	}
	now := monotime.Now()
	for i := 1; i <= c.n; i++ {
		b, err := os.ReadFile(c.logPath(i))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		for k := len(lines) - 1; k >= 0; k-- {
			kind, _, _ := strings.Cut(lines[k], " ")
			if kind == "NOLEAD" || kind == "KILLED" || kind == "START" || kind == "CLOSING" ||
				kind == "STEPDOWN" && strings.Contains(lines[k], " rc=0 ") {
				break
			}
			if kind != "LEAD" {
				continue
			}
			l, err := checker.ParseLine(lines[k])
			if err == nil && l.Int("deadline") > now {
				return i, true
			}
			break
		}
	}
	return 0, false
}

// waitLeader waits up to d for a node to hold a lease.
func (c *cluster) waitLeader(d time.Duration) (int, bool) {
	end := time.Now().Add(d)
	for {
		if i, ok := c.leader(); ok {
			return i, true
		}
		if time.Now().After(end) {
			return 0, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
