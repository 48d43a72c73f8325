// The first act of `make demo`: the library. Three processes of the C
// leader-only worker (examples/c/leader_worker.c) talk QUIC with mutual TLS;
// the live view shows every node's state, term and leader. The leader is
// killed with SIGKILL (failover), restarted (it rejoins as a follower
// without unseating the new leader: pre-vote), and asked to step down
// (handover in about a round trip).

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var ids = []string{"n1", "n2", "n3"}

// view is what the demo knows of each node, from its EVENT lines.
type view struct {
	mu      sync.Mutex
	state   map[string]string
	term    map[string]uint64
	leader  map[string]string
	token   map[string]string // fencing token of the last WORK line
	changed chan struct{}     // signalled on every event
}

func newView() *view {
	return &view{state: map[string]string{}, term: map[string]uint64{}, leader: map[string]string{},
		token: map[string]string{}, changed: make(chan struct{}, 1)}
}

// parse reads `EVENT t=.. id=.. kind=.. state=.. term=.. leader=..` and
// `WORK t=.. id=.. token=.. lease_ms=..` lines.
func (v *view) parse(line string) {
	kind, rest, _ := strings.Cut(line, " ")
	f := map[string]string{}
	for _, kv := range strings.Fields(rest) {
		if k, val, ok := strings.Cut(kv, "="); ok {
			f[k] = val
		}
	}
	v.mu.Lock()
	switch kind {
	case "EVENT":
		term, _ := strconv.ParseUint(f["term"], 10, 64)
		v.state[f["id"]], v.term[f["id"]], v.leader[f["id"]] = f["state"], term, f["leader"]
		if f["state"] != "leader" {
			v.token[f["id"]] = ""
		}
	case "WORK":
		v.token[f["id"]] = f["token"]
	default:
		v.mu.Unlock()
		return
	}
	v.mu.Unlock()
	select {
	case v.changed <- struct{}{}:
	default:
	}
}

func (v *view) set(id, state string) {
	v.mu.Lock()
	v.state[id], v.leader[id], v.token[id] = state, "-", ""
	v.mu.Unlock()
}

// watch shows the live view for a while: the cluster keeps running.
func watch(v *view, d time.Duration) { waitFor(v, d, func() bool { return false }) }

// leaderOf returns the single node in state leader among ids, if exactly
// one is, and its term.
func (v *view) leaderOf() (string, uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	found, term, n := "", uint64(0), 0
	for _, id := range ids {
		if v.state[id] == "leader" {
			found, term = id, v.term[id]
			n++
		}
	}
	if n != 1 {
		return "", 0
	}
	return found, term
}

func (v *view) line() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	for _, id := range ids {
		st := v.state[id]
		if st == "" {
			st = "starting"
		}
		work := ""
		if t := v.token[id]; t != "" {
			work = "works:" + t
		}
		fmt.Fprintf(&b, "  %s: %-9s term %-2d leader %-2s %-8s", id, st, v.term[id], v.leader[id], work)
	}
	return b.String()
}

// cluster runs the node processes.
type cluster struct {
	bin, dir string
	addrs    map[string]string
	procs    map[string]*exec.Cmd
	exited   map[string]chan struct{} // closed when the process is reaped
	mu       sync.Mutex
	v        *view
	reg      *registry
}

func (c *cluster) start(id string) error {
	args := []string{"--id", id, "--listen", c.addrs[id], "--state", filepath.Join(c.dir, id+".state"), "--certs", c.dir}
	for _, p := range ids {
		if p != id {
			args = append(args, "--peer", p+"="+c.addrs[p])
		}
	}
	cmd := exec.Command(filepath.Join(c.bin, "leader_worker"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	c.reg.add(cmd.Process.Pid)
	exited := make(chan struct{})
	c.mu.Lock()
	c.procs[id], c.exited[id] = cmd, exited
	c.mu.Unlock()
	c.v.set(id, "follower") // every node starts as a follower
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.v.parse(sc.Text())
		}
		cmd.Wait()
		close(exited)
	}()
	return nil
}

func (c *cluster) signal(id string, sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[id]; p != nil && p.Process != nil {
		p.Process.Signal(sig)
	}
}

func (c *cluster) killAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.Process != nil {
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		}
	}
}

// waitFor redraws the live view until cond holds or the timeout passes.
func waitFor(v *view, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		if l := v.line(); l != last {
			fmt.Println(l)
			last = l
		}
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-v.changed:
		case <-tick.C:
		}
	}
}

// libraryAct runs the first act with the programs of bin, the
// certificates in dir and the addresses addrs.
func libraryAct(bin, dir string, addrs []string, reg *registry) error {
	c := &cluster{bin: bin, dir: dir, addrs: map[string]string{}, procs: map[string]*exec.Cmd{}, exited: map[string]chan struct{}{}, v: newView(), reg: reg}
	defer c.killAll()
	for i, id := range ids {
		c.addrs[id] = addrs[i]
	}
	fmt.Println("== act 1: the library. Three processes of examples/c/leader_worker.c, QUIC on loopback,\n   default timings: heartbeat 50 ms, election 300-450 ms (the lease: 300 ms)")
	t0 := time.Now()
	for _, id := range ids {
		if err := c.start(id); err != nil {
			return err
		}
	}
	if !waitFor(c.v, 10*time.Second, func() bool { l, _ := c.v.leaderOf(); return l != "" }) {
		return fmt.Errorf("no leader within 10s")
	}
	leader, term := c.v.leaderOf()
	fmt.Printf("-> %s leads at term %d (fencing token), %d ms after start\n", leader, term, time.Since(t0).Milliseconds())
	watch(c.v, 600*time.Millisecond)
	fmt.Println()

	fmt.Printf("== killing the leader %s with SIGKILL (no goodbye, no handover)\n", leader)
	killed := leader
	tKill := time.Now()
	c.signal(killed, syscall.SIGKILL)
	c.v.set(killed, "killed")
	if !waitFor(c.v, 10*time.Second, func() bool { l, _ := c.v.leaderOf(); return l != "" && l != killed }) {
		return fmt.Errorf("no new leader within 10s of the kill")
	}
	leader, term = c.v.leaderOf()
	fmt.Printf("-> failover: %s leads at term %d, %d ms after the kill\n", leader, term, time.Since(tKill).Milliseconds())
	watch(c.v, 600*time.Millisecond)
	fmt.Println()

	fmt.Printf("== restarting %s from its state file\n", killed)
	if err := c.start(killed); err != nil {
		return err
	}
	rejoined := waitFor(c.v, 5*time.Second, func() bool {
		c.v.mu.Lock()
		defer c.v.mu.Unlock()
		return c.v.state[killed] == "follower" && c.v.leader[killed] == leader
	})
	if l, t := c.v.leaderOf(); !rejoined || l != leader || t != term {
		return fmt.Errorf("%s did not rejoin quietly (leader %s term %d)", killed, l, t)
	}
	watch(c.v, 600*time.Millisecond)
	if l, t := c.v.leaderOf(); l != leader || t != term {
		return fmt.Errorf("the returning %s disrupted the leader (now %s at term %d)", killed, l, t)
	}
	fmt.Printf("-> %s follows %s; the leader kept term %d (pre-vote: a returning node does not disrupt)\n\n", killed, leader, term)

	fmt.Printf("== asking the leader %s to step down (SIGUSR1: graft_node_step_down)\n", leader)
	old := leader
	tStep := time.Now()
	c.signal(old, syscall.SIGUSR1)
	if !waitFor(c.v, 5*time.Second, func() bool { l, _ := c.v.leaderOf(); return l != "" && l != old }) {
		return fmt.Errorf("no handover within 5s")
	}
	leader, term = c.v.leaderOf()
	fmt.Printf("-> handover: %s leads at term %d, %.1f ms after the request\n", leader, term, float64(time.Since(tStep).Microseconds())/1000)
	watch(c.v, 600*time.Millisecond)
	fmt.Println()

	fmt.Println("== stopping every node (SIGTERM: the leader hands over, all close)")
	stopAll(ids, c.signal, func(id string) chan struct{} { // a node slow to exit is killed at the end
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.exited[id]
	})
	return nil
}
