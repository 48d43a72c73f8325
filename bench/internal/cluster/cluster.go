// Package cluster runs the node programs of one benchmark cluster as
// separate processes, reads their EVENT lines and keeps a view of every
// node's state, term and leader, so that the harness can wait for a stable
// leader, kill it and see who takes over.
package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/graftlib/graft/internal/monotime"
)

// Spec says how to run the nodes of a cluster.
type Spec struct {
	// Name labels the cluster in logs ("graft-3").
	Name string
	// IDs are the node ids, in order.
	IDs []string
	// Command returns the program and arguments that run node id.
	Command func(id string) (bin string, args []string)
	// Log, if set, receives every line the nodes print (stdout and stderr),
	// prefixed with the node id.
	Log io.Writer
}

// Node is the harness's view of one node process.
type Node struct {
	ID     string
	Pid    int
	Alive  bool
	State  string
	Leader string // after alias mapping; "" when none
	Term   uint64
	Lines  []string // lines other than EVENT (READY, STATS, ...) of the current process

	done chan struct{}
}

// Cluster is a running set of node processes.
type Cluster struct {
	spec Spec

	mu         sync.Mutex
	nodes      map[string]*Node
	events     []Event
	alias      map[string]string // node-reported name (nats-io/graft's uuid) -> id
	lastChange time.Time
	wake       chan struct{} // closed and replaced on every change
	logMu      sync.Mutex
}

// New returns a cluster with no process started.
func New(spec Spec) *Cluster {
	c := &Cluster{spec: spec, nodes: map[string]*Node{}, alias: map[string]string{}, wake: make(chan struct{})}
	for _, id := range spec.IDs {
		c.nodes[id] = &Node{ID: id}
	}
	return c
}

// IDs returns the node ids.
func (c *Cluster) IDs() []string { return c.spec.IDs }

func (c *Cluster) changed() {
	c.lastChange = time.Now()
	close(c.wake)
	c.wake = make(chan struct{})
}

func (c *Cluster) logLine(id, line string) {
	if c.spec.Log == nil {
		return
	}
	c.logMu.Lock()
	fmt.Fprintf(c.spec.Log, "%s %s\n", id, line)
	c.logMu.Unlock()
}

// StartAll starts every node and returns the CLOCK_MONOTONIC instant (ms)
// taken just before the first one was started.
func (c *Cluster) StartAll() (float64, error) {
	t0 := monotime.Millis()
	for _, id := range c.spec.IDs {
		if err := c.Start(id); err != nil {
			c.Close()
			return t0, err
		}
	}
	return t0, nil
}

// Start starts node id (again). Its view is reset to a follower that knows
// no leader.
func (c *Cluster) Start(id string) error {
	bin, args := c.spec.Command(id)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cluster: starting %s: %w", id, err)
	}
	n := &Node{ID: id, Pid: cmd.Process.Pid, Alive: true, State: "follower", done: make(chan struct{})}
	c.mu.Lock()
	c.nodes[id] = n
	c.changed()
	c.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			c.logLine(id, "stderr: "+sc.Text())
		}
	}()
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			c.logLine(id, line)
			c.handle(n, line)
		}
		cmd.Wait()
		c.mu.Lock()
		n.Alive = false
		c.changed()
		c.mu.Unlock()
		close(n.done)
	}()
	return nil
}

// handle updates the view from one line of node n.
func (c *Cluster) handle(n *Node, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := parseEvent(line)
	if !ok {
		n.Lines = append(n.Lines, line)
		if strings.HasPrefix(line, "READY ") {
			if a := Fields(line)["alias"]; a != "" {
				c.alias[a] = n.ID
			}
		}
		return
	}
	if a, ok := c.alias[e.Leader]; ok {
		e.Leader = a
	}
	e.ID = n.ID
	c.events = append(c.events, e)
	if e.State != "" {
		n.State = e.State
	}
	n.Term, n.Leader = e.Term, e.Leader
	c.changed()
}

// Signal sends sig to node id and returns the CLOCK_MONOTONIC instant (ms)
// taken just before. After SIGKILL the node counts as dead at once.
func (c *Cluster) Signal(id string, sig syscall.Signal) (float64, error) {
	c.mu.Lock()
	n := c.nodes[id]
	alive, pid := n.Alive, n.Pid
	if sig == syscall.SIGKILL {
		n.Alive = false
		c.changed()
	}
	c.mu.Unlock()
	if !alive {
		return 0, fmt.Errorf("cluster: %s is not running", id)
	}
	t := monotime.Millis()
	err := syscall.Kill(pid, sig)
	c.logLine("harness", fmt.Sprintf("t=%.3f signal %d to %s", t, sig, id))
	return t, err
}

// WaitExit waits until node id's process has exited.
func (c *Cluster) WaitExit(id string, timeout time.Duration) error {
	c.mu.Lock()
	n := c.nodes[id]
	c.mu.Unlock()
	if n.done == nil {
		return nil
	}
	select {
	case <-n.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("cluster: %s did not exit within %s", id, timeout)
	}
}

// Node returns a copy of the view of node id.
func (c *Cluster) Node(id string) Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := *c.nodes[id]
	n.Lines = append([]string(nil), n.Lines...)
	return n
}

// Pids returns the pids of the running nodes by id.
func (c *Cluster) Pids() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for id, n := range c.nodes {
		if n.Alive {
			m[id] = n.Pid
		}
	}
	return m
}

// stable returns the leader if every node runs, exactly one is leader, every
// node names it as its leader (when all is set) and nothing changed for
// quiet.
func (c *Cluster) stable(quiet time.Duration, all bool) string {
	leader := ""
	for _, id := range c.spec.IDs {
		n := c.nodes[id]
		if !n.Alive {
			return ""
		}
		if n.State == "leader" {
			if leader != "" {
				return ""
			}
			leader = id
		}
	}
	if leader == "" || time.Since(c.lastChange) < quiet {
		return ""
	}
	if all {
		for _, id := range c.spec.IDs {
			if id != leader && c.nodes[id].Leader != leader {
				return ""
			}
		}
	}
	return leader
}

// ErrTimeout is returned when a wait runs out of time.
var ErrTimeout = errors.New("cluster: timed out")

// WaitStable waits until every node runs, exactly one leads, and (when all
// is set) every follower names that leader, with no event for quiet. It
// returns the leader.
func (c *Cluster) WaitStable(timeout, quiet time.Duration, all bool) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		l := c.stable(quiet, all)
		wake := c.wake
		since := time.Since(c.lastChange)
		c.mu.Unlock()
		if l != "" {
			return l, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return "", ErrTimeout
		}
		step := left
		if since < quiet && quiet-since < step {
			step = quiet - since + time.Millisecond
		}
		select {
		case <-wake:
		case <-time.After(step):
		}
	}
}

// WaitLeader waits for a node other than not to report that it became
// leader at or after t (CLOCK_MONOTONIC ms), and returns that event.
func (c *Cluster) WaitLeader(t float64, not string, timeout time.Duration) (Event, error) {
	deadline := time.Now().Add(timeout)
	seen := 0
	for {
		c.mu.Lock()
		for ; seen < len(c.events); seen++ {
			e := c.events[seen]
			if e.Kind == "state" && e.State == "leader" && e.ID != not && e.T >= t {
				c.mu.Unlock()
				return e, nil
			}
		}
		wake := c.wake
		c.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			return Event{}, ErrTimeout
		}
		select {
		case <-wake:
		case <-time.After(left):
		}
	}
}

// Events returns the events stamped at or after t.
func (c *Cluster) Events(t float64) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Event
	for _, e := range c.events {
		if e.T >= t {
			out = append(out, e)
		}
	}
	return out
}

// Close kills every node process and waits for them.
func (c *Cluster) Close() {
	c.mu.Lock()
	var nodes []*Node
	for _, n := range c.nodes {
		if n.done != nil {
			nodes = append(nodes, n)
			if n.Alive {
				syscall.Kill(n.Pid, syscall.SIGKILL)
			}
		}
	}
	c.mu.Unlock()
	for _, n := range nodes {
		select {
		case <-n.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// Stop sends SIGTERM to every running node and waits up to timeout for
// them to exit (so that they print their STATS lines), then kills the rest.
func (c *Cluster) Stop(timeout time.Duration) {
	for id := range c.Pids() {
		c.Signal(id, syscall.SIGTERM)
	}
	deadline := time.Now().Add(timeout)
	for _, id := range c.spec.IDs {
		c.WaitExit(id, time.Until(deadline))
	}
	c.Close()
}
