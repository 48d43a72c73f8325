package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graftlib/graft/transport"
)

// The test binary doubles as graft (and so as its watchdog) and as the
// child: with GRAFT_TEST_AS_GRAFT=1 in the environment it runs dispatch on
// its arguments, and `__testchild` is the logging child below. Every
// process below a graft started by a test inherits the variable.
func TestMain(m *testing.M) {
	if os.Getenv("GRAFT_TEST_AS_GRAFT") == "1" {
		if len(os.Args) > 1 && os.Args[1] == "__testchild" {
			os.Exit(testChild(os.Args[2:]))
		}
		os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// testChild is `__testchild LOG MODE`: it appends "start NODE TERM NS PID"
// to LOG, then "tick NODE TERM NS PID" every 2 ms, and on SIGTERM "stop
// ..." and exits 0, unless MODE is "ignore" (SIGTERM ignored) or
// "exit:STATUS:DURATION" (exits with STATUS after DURATION).
func testChild(args []string) int {
	f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 99
	}
	node, term, pid := os.Getenv("GRAFT_NODE_ID"), os.Getenv("GRAFT_TERM"), os.Getpid()
	line := func(what string) {
		fmt.Fprintf(f, "%s %s %s %d %d %s\n", what, node, term, monoNow(), pid, os.Getenv("GRAFT_LEASE_DEADLINE_NS"))
	}
	line("start")
	sigs := make(chan os.Signal, 1)
	mode := args[1]
	if mode == "ignore" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	var end <-chan time.Time
	status := 0
	if rest, ok := strings.CutPrefix(mode, "exit:"); ok {
		s, d, _ := strings.Cut(rest, ":")
		status, _ = strconv.Atoi(s)
		dd, _ := time.ParseDuration(d)
		end = time.After(dd)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	for {
		select {
		case <-sigs:
			line("stop")
			return 0
		case <-end:
			line("stop")
			return status
		case <-tick.C:
			line("tick")
		}
	}
}

// proc is one `graft run` process of a test cluster.
type proc struct {
	id, http string
	args     []string
	cmd      *exec.Cmd
	errFile  string
	done     chan struct{}
	status   int
}

// cluster is n `graft run` processes on loopback sharing one child log.
type cluster struct {
	t     *testing.T
	dir   string
	log   string
	nodes []*proc
}

// freePorts returns n loopback ports free for UDP (and, by luck, TCP).
func freePorts(t *testing.T, n int) []int {
	var ports []int
	for len(ports) < n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
		c.Close()
	}
	return ports
}

// newCluster starts n graft processes running CMD (cmd builds it from the
// test binary's path and the log path) with the extra flags.
func newCluster(t *testing.T, n int, extra []string, cmd func(self, log string) []string) *cluster {
	t.Helper()
	return newClusterEach(t, n, func(string) []string { return extra }, func(_, self, log string) []string { return cmd(self, log) })
}

// newClusterEach is newCluster with extra flags and CMD of each node's own
// (a nil CMD: none, as for a witness).
func newClusterEach(t *testing.T, n int, extraOf func(id string) []string, cmdOf func(id, self, log string) []string) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, log: filepath.Join(dir, "children.log")}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	if err := transport.GenerateCerts(filepath.Join(dir, "certs"), ids); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2*n)
	self, _ := os.Executable()
	for i, id := range ids {
		args := []string{"run", "--cluster", "t", "--id", id, "--listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"--state", filepath.Join(dir, id+".state"), "--certs", filepath.Join(dir, "certs"),
			"--http", fmt.Sprintf("127.0.0.1:%d", ports[n+i])}
		for j, p := range ids {
			if j != i {
				args = append(args, "--peer", fmt.Sprintf("%s=127.0.0.1:%d", p, ports[j]))
			}
		}
		args = append(args, extraOf(id)...)
		if cmd := cmdOf(id, self, c.log); cmd != nil {
			args = append(append(args, "--"), cmd...)
		}
		c.nodes = append(c.nodes, c.start(id, fmt.Sprintf("127.0.0.1:%d", ports[n+i]), args))
	}
	t.Cleanup(c.stopAll)
	return c
}

// start starts one graft process.
func (c *cluster) start(id, http string, args []string) *proc {
	self, _ := os.Executable()
	p := &proc{id: id, http: http, args: args, errFile: filepath.Join(c.dir, id+".err"), done: make(chan struct{})}
	ef, err := os.OpenFile(p.errFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd = exec.Command(self, args...)
	p.cmd.Env = append(os.Environ(), "GRAFT_TEST_AS_GRAFT=1")
	p.cmd.Stdout, p.cmd.Stderr = ef, ef
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	ef.Close()
	go func() {
		_ = p.cmd.Wait()
		p.status = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	return p
}

// restart starts a node again with its arguments, once it has exited.
func (c *cluster) restart(id string) {
	for i, p := range c.nodes {
		if p.id == id {
			<-p.done
			c.nodes[i] = c.start(id, p.http, p.args)
			return
		}
	}
}

func (c *cluster) node(id string) *proc {
	for _, p := range c.nodes {
		if p.id == id {
			return p
		}
	}
	c.t.Fatalf("no node %s", id)
	return nil
}

// stopAll ends every graft process still running (SIGCONT first: a
// stopped one cannot act on SIGTERM) and waits for them.
func (c *cluster) stopAll() {
	for _, p := range c.nodes {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.nodes {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			c.t.Errorf("%s did not exit on SIGTERM", p.id)
		}
	}
	if c.t.Failed() {
		for _, p := range c.nodes {
			b, _ := os.ReadFile(p.errFile)
			c.t.Logf("--- %s stderr:\n%s", p.id, b)
		}
	}
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run is one child's life as its log tells it.
type run struct {
	node       string
	term       uint64
	pid        int
	start, end int64 // CLOCK_MONOTONIC ns: first and last line
	stopped    bool  // it logged "stop"
}

// runs parses the child log, in order of start.
func (c *cluster) runs() []*run {
	f, err := os.Open(c.log)
	if err != nil {
		return nil
	}
	defer f.Close()
	byPID := map[int]*run{}
	var out []*run
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 5 {
			continue
		}
		term, _ := strconv.ParseUint(fl[2], 10, 64)
		ns, _ := strconv.ParseInt(fl[3], 10, 64)
		pid, _ := strconv.Atoi(fl[4])
		r := byPID[pid]
		if r == nil {
			r = &run{node: fl[1], term: term, pid: pid, start: ns}
			byPID[pid] = r
			out = append(out, r)
		}
		r.end = max(r.end, ns)
		r.stopped = r.stopped || fl[0] == "stop"
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// current is the newest run that started after the given number of runs,
// or nil.
func (c *cluster) newRunAfter(n int) *run {
	rs := c.runs()
	if len(rs) > n {
		return rs[len(rs)-1]
	}
	return nil
}

// alive reports whether pid still runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// ending is a watchdog's report of a run's end: when its group was gone
// and the lease deadline it enforced.
type ending struct {
	node             string
	term             uint64
	pid              int
	gone, deadline   int64
	reason           string
	status           int
	termSent, killed bool
}

// endings parses the watchdogs' lines from every node's stderr.
func (c *cluster) endings() []ending {
	var out []ending
	for _, p := range c.nodes {
		b, _ := os.ReadFile(p.errFile)
		for _, l := range strings.Split(string(b), "\n") {
			var e ending
			if _, err := fmt.Sscanf(l, "graft: node %s term %d: command (pid %d) ended, status %d", &e.node, &e.term, &e.pid, &e.status); err != nil {
				continue
			}
			for _, f := range strings.Fields(l) {
				if v, ok := strings.CutPrefix(f, "gone_ns="); ok {
					e.gone, _ = strconv.ParseInt(v, 10, 64)
				}
				if v, ok := strings.CutPrefix(f, "deadline_ns="); ok {
					e.deadline, _ = strconv.ParseInt(v, 10, 64)
				}
			}
			if j := strings.Index(l, "); group"); j > 0 {
				e.reason = l[strings.LastIndex(l[:j], "(")+1 : j]
			}
			e.killed = !strings.Contains(l, "SIGKILL not sent")
			out = append(out, e)
		}
	}
	return out
}

// checkLifetimes checks that no two children of different nodes lived at
// the same time and that every child's last line came before the deadline
// its watchdog enforced; it logs the closest gap and the latest end
// relative to the deadline.
func (c *cluster) checkLifetimes() {
	t := c.t
	rs := c.runs()
	ends := c.endings()
	closest := int64(1 << 62)
	var closestPair string
	for i, a := range rs {
		for _, b := range rs[i+1:] {
			if a.node == b.node {
				continue
			}
			gap := b.start - a.end
			if a.start > b.end {
				gap = a.start - b.end
			}
			if a.end >= b.start && b.end >= a.start {
				t.Errorf("OVERLAP: %s term %d pid %d [%d, %d] and %s term %d pid %d [%d, %d]",
					a.node, a.term, a.pid, a.start, a.end, b.node, b.term, b.pid, b.start, b.end)
			}
			if gap < closest && b.start >= a.end {
				closest, closestPair = gap, fmt.Sprintf("%s/%d -> %s/%d", a.node, a.term, b.node, b.term)
			}
		}
	}
	latest := int64(1 << 62)
	checked := 0
	for _, r := range rs {
		e, ok := endingOf(ends, r)
		if !ok {
			continue // still running
		}
		checked++
		if r.end >= e.deadline {
			t.Errorf("%s term %d pid %d: last line %.2f ms after the lease deadline", r.node, r.term, r.pid, float64(r.end-e.deadline)/1e6)
		}
		latest = min(latest, e.deadline-r.end)
	}
	if closest < 1<<62 {
		t.Logf("%d child runs, no overlap between nodes; closest gap %.1f ms (%s)", len(rs), float64(closest)/1e6, closestPair)
	}
	if checked > 0 {
		t.Logf("latest child end: %.1f ms before its lease deadline (%d runs with a watchdog report)", float64(latest)/1e6, checked)
	}
}

// endingOf finds the watchdog's report of the run r belongs to: same node
// and term, the first whose group was gone after r started (a grandchild's
// pid is not the one the watchdog reports).
func endingOf(ends []ending, r *run) (ending, bool) {
	var best ending
	found := false
	for _, e := range ends {
		if e.node == r.node && e.term == r.term && e.gone >= r.start && (!found || e.gone < best.gone) {
			best, found = e, true
		}
	}
	return best, found
}
