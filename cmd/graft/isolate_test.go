package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// firewall isolates UDP ports on loopback with iptables (root only). Its
// rules carry a comment naming this test process, and heal removes them.
type firewall struct {
	t     *testing.T
	tag   string
	rules [][]string
}

// newFirewall returns nil when iptables cannot be used (not root).
func newFirewall(t *testing.T) *firewall {
	if os.Getuid() != 0 {
		return nil
	}
	if err := exec.Command("iptables", "-L", "INPUT", "-n").Run(); err != nil {
		return nil
	}
	f := &firewall{t: t, tag: "graft-cmd-test-" + strconv.Itoa(os.Getpid())}
	t.Cleanup(f.heal)
	return f
}

// isolate drops every UDP datagram to or from port.
func (f *firewall) isolate(port string) {
	for _, dir := range []string{"--dport", "--sport"} {
		r := []string{"INPUT", "-p", "udp", dir, port, "-m", "comment", "--comment", f.tag, "-j", "DROP"}
		if out, err := exec.Command("iptables", append([]string{"-I"}, r...)...).CombinedOutput(); err != nil {
			f.t.Fatalf("iptables: %v: %s", err, out)
		}
		f.rules = append(f.rules, r)
	}
}

// heal removes the rules.
func (f *firewall) heal() {
	for _, r := range f.rules {
		_ = exec.Command("iptables", append([]string{"-D"}, r...)...).Run()
	}
	f.rules = nil
}

// listenPort is the UDP port a node of the cluster listens on.
func (c *cluster) listenPort(id string) string {
	args := c.node(id).args
	for i, a := range args {
		if a == "--listen" && i+1 < len(args) {
			return args[i+1][strings.LastIndexByte(args[i+1], ':')+1:]
		}
	}
	c.t.Fatalf("no --listen for %s", id)
	return ""
}

// TestRun_LeaderIsolated (root: iptables on loopback): the leading node
// keeps running but is cut off from its peers, three times over. Its lease
// lapses without renewal, the watchdog stops its child before the
// deadline, the majority elects a new leader whose child starts after;
// healed, the old leader rejoins as a follower.
func TestRun_LeaderIsolated(t *testing.T) {
	fw := newFirewall(t)
	if fw == nil {
		t.Skip("needs root and iptables to cut a node off on loopback")
	}
	c := newCluster(t, 3, nil, childCmd("normal"))
	c.waitRun(0, 15*time.Second)
	for i := 0; i < 3; i++ {
		rs := c.runs()
		cur := rs[len(rs)-1]
		cut := time.Now()
		fw.isolate(c.listenPort(cur.node))
		waitFor(t, "the isolated leader's child gone", 3*time.Second, func() bool { return !alive(cur.pid) })
		gone := time.Since(cut)
		next := c.waitRun(len(rs), 10*time.Second)
		if next.node == cur.node {
			t.Fatalf("the isolated node %s started a child", cur.node)
		}
		t.Logf("isolation %d: %s's child gone %s after the cut, %s's child started %.1f ms after it ended",
			i+1, cur.node, gone.Round(time.Millisecond), next.node, float64(next.start-c.runByPID(cur.pid).end)/1e6)
		fw.heal()
		time.Sleep(500 * time.Millisecond) // the old leader rejoins
	}
	c.stopAll()
	c.checkLifetimes()
}
