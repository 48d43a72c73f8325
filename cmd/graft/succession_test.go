package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 16 on real processes: `graft run --priority`, killed with SIGKILL.
// Fast timings, so that the stable period (5 x the election maximum) is
// 1.25 s.
var fastTimings = []string{"--heartbeat", "20ms", "--election", "150ms-250ms"}

// n3Priority gives every node the fast timings, and n3 --priority p too.
func n3Priority(p string) func(id string) []string {
	return func(id string) []string {
		if id == "n3" {
			return append([]string{"--priority", p}, fastTimings...)
		}
		return fastTimings
	}
}

// statusOf reads a node's /status; ok is false while it does not answer.
func statusOf(p *proc) (status, bool) {
	code, body := get(p, "/status")
	var s status
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
		return s, false
	}
	return s, true
}

// runOf waits for a child run of node id that starts after the n runs seen
// so far and returns it.
func (c *cluster) runOf(id string, n int, timeout time.Duration) *run {
	c.t.Helper()
	var r *run
	waitFor(c.t, "a child run of "+id, timeout, func() bool {
		for _, x := range c.runs()[min(n, len(c.runs())):] {
			if x.node == id {
				r = x
				return true
			}
		}
		return false
	})
	return r
}

// TestRun_PreferredNodeTakesOver: n3 runs with --priority 2. If it won the
// first election, it is stopped (SIGTERM: it hands over) and started again,
// so that it joins a leader of lower priority; that leader hands over to it
// once it has answered for the stable period, and n3 says so in /status,
// `graft status` and /metrics.
func TestRun_PreferredNodeTakesOver(t *testing.T) {
	c := newClusterEach(t, 3, n3Priority("2"), func(_, self, log string) []string { return childCmd("normal")(self, log) })
	r := c.waitRun(0, 15*time.Second)
	how := "was a follower from the start"
	if r.node == "n3" {
		how = "won the first election, so it was restarted"
		n3 := c.node("n3")
		_ = n3.cmd.Process.Signal(syscall.SIGTERM)
		<-n3.done
		r = c.waitRun(1, 10*time.Second)
		c.restart("n3")
	}
	old := c.node(r.node)
	joined := time.Now()
	seen := len(c.runs())
	r3 := c.runOf("n3", seen, 30*time.Second)
	took := time.Since(joined)
	st, ok := statusOf(old)
	if !ok {
		t.Fatalf("%s: /status does not answer", old.id)
	}
	if st.Stats["step_downs"] == 0 && st.Stats["priority_takeovers"] == 0 {
		t.Errorf("%s led without a lapse and n3 took over, but %s counts no priority handover: %+v", old.id, old.id, st.Stats)
	}
	t.Logf("n3 (priority 2) %s; %s led, and n3 took over %s later (stable period 1.25s); %s: %d priority handover(s), %d step-down(s)",
		how, old.id, took.Round(time.Millisecond), old.id, st.Stats["priority_takeovers"], st.Stats["step_downs"])

	// n3 names its first successor; the others show their priority 1.
	n3 := c.node("n3")
	waitFor(t, "n3 to name its first successor", 10*time.Second, func() bool {
		s, ok := statusOf(n3)
		return ok && s.Succession.Priority == 2 && (s.Succession.Successor == "n1" || s.Succession.Successor == "n2")
	})
	var out, errb bytes.Buffer
	if code := dispatch([]string{"status", "--http", n3.http}, &out, &errb); code != 0 || !strings.Contains(out.String(), "succession: priority 2, leads; first successor n") {
		t.Errorf("graft status on n3: %d %q %q", code, out.String(), errb.String())
	}
	if s, _ := statusOf(old); s.Succession.Priority != 1 || s.Succession.Witness {
		t.Errorf("%s: succession %+v, want priority 1", old.id, s.Succession)
	}
	fams := metricsOf(t, n3)
	if g := fams["graft_priority"]; g == nil || g.Metric[0].GetGauge().GetValue() != 2 {
		t.Errorf("graft_priority on n3: %v", g)
	}
	if g := fams["graft_successor_info"]; g == nil || len(g.Metric) != 1 || !strings.HasPrefix(g.Metric[0].Label[0].GetValue(), "n") {
		t.Errorf("graft_successor_info on n3: %v", g)
	}
	if fams["graft_succession_rank"] == nil || fams["graft_priority_takeovers_total"] == nil {
		t.Errorf("/metrics lacks graft_succession_rank or graft_priority_takeovers_total")
	}
	_ = r3
	c.stopAll()
	c.checkLifetimes()
}

// TestRun_TwoSitesAndAWitness: n1 and n2 hold data, n3 is a witness
// (--priority 0, run without a command). Killing the leading data node leaves the other one and
// the witness, a majority: the other data node takes over. Killing that
// one too leaves the witness alone, which never campaigns: it never runs
// CMD nor starts an election.
func TestRun_TwoSitesAndAWitness(t *testing.T) {
	c := newClusterEach(t, 3, n3Priority("0"), func(id, self, log string) []string {
		if id == "n3" {
			return nil // a witness needs no command
		}
		return childCmd("normal")(self, log)
	})
	witness := c.node("n3")
	r1 := c.waitRun(0, 15*time.Second)
	if r1.node == "n3" {
		t.Fatal("the witness runs CMD")
	}
	if s, ok := statusOf(witness); !ok || !s.Succession.Witness || s.Succession.Rank != 0 {
		t.Errorf("witness /status: %+v (answering %v)", s.Succession, ok)
	}
	var out, errb bytes.Buffer
	if code := dispatch([]string{"status", "--http", witness.http}, &out, &errb); code != 0 || !strings.Contains(out.String(), "succession: witness (votes, never leads)") {
		t.Errorf("graft status on the witness: %d %q %q", code, out.String(), errb.String())
	}

	killedAt := monoNow()
	_ = c.node(r1.node).cmd.Process.Signal(syscall.SIGKILL)
	r2 := c.waitRun(1, 10*time.Second)
	if r2.node == "n3" || r2.node == r1.node {
		t.Fatalf("after %s was killed, %s runs CMD", r1.node, r2.node)
	}
	t.Logf("SIGKILL of %s: %s and the witness carry on, %s's child started %.1f ms after the kill",
		r1.node, r2.node, r2.node, float64(r2.start-killedAt)/1e6)

	// The last data node killed: the witness is alone. Four election
	// maxima give it room to misbehave; nothing else can happen.
	_ = c.node(r2.node).cmd.Process.Signal(syscall.SIGKILL)
	aloneFrom := time.Now()
	waitFor(t, "the witness alone for 4 election maxima", 10*time.Second, func() bool {
		return time.Since(aloneFrom) > 4*250*time.Millisecond
	})
	s, ok := statusOf(witness)
	if !ok || s.State != "follower" || s.Stats["elections_started"] != 0 || s.Stats["elections_won"] != 0 {
		t.Errorf("the witness alone: %s, %+v", s.State, s.Stats)
	}
	for _, r := range c.runs() {
		if r.node == "n3" {
			t.Errorf("the witness ran CMD (pid %d, term %d)", r.pid, r.term)
		}
	}
	t.Logf("the witness alone for %s: %s, no election started, CMD never run", time.Since(aloneFrom).Round(time.Millisecond), s.State)
	_ = witness.cmd.Process.Signal(syscall.SIGTERM)
	<-witness.done
	if witness.status != 0 {
		t.Errorf("the witness exited %d on SIGTERM, want 0", witness.status)
	}
	c.stopAll()
	c.checkLifetimes()
}

// TestRun_LeaderAndSuccessorKilledTogether: five nodes; the leader and the
// follower it ranks first are killed with one SIGKILL each, back to back.
// One of the three others leads, normally the one of rank 2 a succession
// delay after the first successor would have.
func TestRun_LeaderAndSuccessorKilledTogether(t *testing.T) {
	c := newCluster(t, 5, fastTimings, childCmd("normal"))
	r1 := c.waitRun(0, 20*time.Second)
	lead := c.node(r1.node)
	ranks := map[uint32]string{}
	waitFor(t, "the leader to rank its four followers", 10*time.Second, func() bool {
		s, ok := statusOf(lead)
		if !ok || s.Succession.Successor == "" {
			return false
		}
		clear(ranks)
		for _, p := range c.nodes {
			if p != lead {
				if ps, ok := statusOf(p); ok && ps.Succession.Rank > 0 {
					ranks[ps.Succession.Rank] = p.id
				}
			}
		}
		return len(ranks) == 4 && ranks[1] == s.Succession.Successor
	})
	first := c.node(ranks[1])
	killedAt := monoNow()
	_ = lead.cmd.Process.Signal(syscall.SIGKILL)
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	r2 := c.waitRun(1, 10*time.Second)
	if r2.node == lead.id || r2.node == first.id {
		t.Fatalf("a killed node (%s) runs CMD", r2.node)
	}
	rank := 0
	for k, id := range ranks {
		if id == r2.node {
			rank = int(k)
		}
	}
	t.Logf("SIGKILL of leader %s and its first successor %s: %s (rank %d) took over, its child started %.1f ms after the kills (ranks %v)",
		lead.id, first.id, r2.node, rank, float64(r2.start-killedAt)/1e6, fmt.Sprint(ranks))
	c.stopAll()
	c.checkLifetimes()
}
