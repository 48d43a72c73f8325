package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graftlib/graft/bench/internal/cluster"
	"github.com/graftlib/graft/bench/internal/stat"
	"github.com/graftlib/graft/bench/internal/testbed"
)

// The run rows (issue 14), in two parts:
//
//   - the leader-fault trials of `make graft-trials` (cmd/graft's
//     TestRun_Trials, run here with GRAFT_CMD_TRIALS and its samples read
//     back as JSON): the leading graft stopped, killed, terminated, and as
//     root cut off with iptables, with a child that ignores SIGTERM; the
//     margin between the lease deadline and the child's end;
//   - the released binary (build/graft) with a C child (bench/probes/
//     run_child.c): lease acquired to the child's first instruction over
//     handovers, then graft and its watchdog at rest (RSS, the pair's
//     resident pages, CPU) beside library nodes (bench/cmd/graftnode)
//     running at the same time, measured over the same window.

// RunTrials is what TestRun_Trials wrote (GRAFT_CMD_TRIALS_OUT).
type RunTrials struct {
	Kinds []string `json:"kinds"`
	N     int      `json:"trials"`
	// Per fault kind, ms: the lease deadline minus the child's last line
	// (it logs every 2 ms), and minus the instant the watchdog saw the
	// whole group gone.
	LastLine  map[string][]float64 `json:"margin_last_line_ms"`
	Gone      map[string][]float64 `json:"margin_gone_ms"`
	Unmatched map[string]int       `json:"unmatched"`
	// Lease to the child's first line; the child is the test binary (a Go
	// program), so its own start-up is in it.
	StartDelay []float64 `json:"start_delay_ms"`
}

// RunRest is one node of a `graft run` cluster at rest.
type RunRest struct {
	ID       string `json:"id"`
	Leads    bool   `json:"leads"` // its child runs
	GraftRSS int    `json:"graft_rss_kib"`
	WdRSS    int    `json:"watchdog_rss_kib"`
	// PairKiB: the pages resident for graft and its watchdog together,
	// each counted once (the two run one binary, whose pages VmRSS counts
	// in both); 0 when page frames cannot be read (not root).
	PairKiB   int     `json:"pair_resident_kib"`
	GraftCPU  float64 `json:"graft_cpu_ms_per_s"`
	WdCPU     float64 `json:"watchdog_cpu_ms_per_s"`
	WatchdogP int     `json:"watchdog_pid"`
}

// Run is the run section's result.
type Run struct {
	Trials     *RunTrials `json:"trials,omitempty"`
	TrialsOK   bool       `json:"trials_passed"`
	TrialsNote string     `json:"trials_note,omitempty"` // why they failed, with the test's complaint
	// The released binary: lease acquired (graft's lease_ns) to the C
	// child's first instruction, over handovers (SIGTERM to the leader).
	StartDelayMs []float64 `json:"start_delay_ms"`
	Rest         []RunRest `json:"rest"`
	RestSeconds  float64   `json:"rest_seconds"`
	// The library node beside it: bench/cmd/graftnode, 3 nodes running at
	// the same time, measured over the same window, no relays.
	Lib Idle   `json:"library_node"`
	Err string `json:"error,omitempty"`
}

// runSection measures everything of the run section; errors end a part
// early and are recorded.
func runSection(env *testbed.Env, root, goTool, graftBin string, trials, handovers int, rest time.Duration) Run {
	var r Run
	if trials > 0 {
		log.Printf("run: make graft-trials' TestRun_Trials, %d leader faults", trials)
		r.Trials, r.TrialsOK, r.TrialsNote = runTrials(env, root, goTool, trials)
		if r.Trials != nil {
			for _, k := range r.Trials.Kinds {
				g := stat.Summarize(r.Trials.Gone[k])
				log.Printf("  leading graft %s: %d trials, group gone before the deadline by p50 %.1f ms, min %.1f ms", k, g.N, g.Median, g.Min)
			}
		}
		if !r.TrialsOK {
			log.Printf("  trials failed: %s", r.TrialsNote)
		}
	}
	if err := runReleased(env, root, graftBin, handovers, rest, &r); err != nil {
		r.Err = err.Error()
		log.Printf("run: %v", err)
	}
	return r
}

// runTrials runs TestRun_Trials in cmd/graft and reads its samples.
func runTrials(env *testbed.Env, root, goTool string, n int) (*RunTrials, bool, string) {
	out := filepath.Join(env.Work, "trials.json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "test", "-count=1", "-timeout", "600s", "-run", "^TestRun_Trials$", "-v", ".")
	cmd.Dir = filepath.Join(root, "cmd", "graft")
	cmd.Env = append(os.Environ(), "GRAFT_CMD_TRIALS="+strconv.Itoa(n), "GRAFT_CMD_TRIALS_OUT="+out)
	b, err := cmd.CombinedOutput()
	fmt.Fprintf(env.Log, "graft-trials output:\n%s\n", b)
	note := ""
	if err != nil {
		// The test's own complaints (OVERLAP, a line after the deadline).
		var bad []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "OVERLAP") || strings.Contains(l, "after the lease deadline") || strings.Contains(l, "timed out") || strings.Contains(l, "FAIL") {
				bad = append(bad, strings.TrimSpace(l))
			}
		}
		note = fmt.Sprintf("%v: %s", err, strings.Join(bad, "; "))
	}
	js, rerr := os.ReadFile(out)
	if rerr != nil {
		return nil, false, strings.TrimSpace(note + " (no samples written)")
	}
	var t RunTrials
	if err := json.Unmarshal(js, &t); err != nil {
		return nil, false, "trials.json: " + err.Error()
	}
	return &t, err == nil, note
}

// runNode is one `graft run` process of the released binary.
type runNode struct {
	id      string
	args    []string
	errFile string
	cmd     *exec.Cmd
	done    chan struct{}
}

func (p *runNode) start(bin string) error {
	ef, err := os.OpenFile(p.errFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer ef.Close()
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = ef, ef
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("run: starting graft %s: %w", p.id, err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.done) }()
	return nil
}

// stop ends the process (SIGTERM: the child is stopped and leadership
// handed over) and waits up to timeout.
func (p *runNode) stop(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("run: graft %s did not exit within %s of SIGTERM", p.id, timeout)
	}
}

// childStart is one line of run_child.
type childStart struct {
	node string
	term uint64
	ns   int64
}

func childStarts(logFile string) []childStart {
	b, _ := os.ReadFile(logFile)
	var out []childStart
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 5 || f[0] != "start" {
			continue
		}
		term, _ := strconv.ParseUint(f[2], 10, 64)
		ns, _ := strconv.ParseInt(f[3], 10, 64)
		out = append(out, childStart{f[1], term, ns})
	}
	return out
}

func waitStarts(logFile string, n int, timeout time.Duration) ([]childStart, error) {
	end := time.Now().Add(timeout)
	for {
		s := childStarts(logFile)
		if len(s) >= n {
			return s, nil
		}
		if time.Now().After(end) {
			return s, fmt.Errorf("run: no child start #%d within %s", n, timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling period
	}
}

// leaseAt finds graft's report of the lease behind a child start:
// "node N term T: command started (pid P) X ms after the lease lease_ns=L".
func leaseAt(errFile, node string, term uint64) (int64, bool) {
	f, err := os.Open(errFile)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	want := fmt.Sprintf("node %s term %d: command started ", node, term)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, want) {
			for _, w := range strings.Fields(l) {
				if v, ok := strings.CutPrefix(w, "lease_ns="); ok {
					ns, err := strconv.ParseInt(v, 10, 64)
					return ns, err == nil
				}
			}
		}
	}
	return 0, false
}

// watchdogPid finds the `graft __watchdog` child of a graft process.
func watchdogPid(pid int) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, k := range strings.Fields(string(kids)) {
			c, _ := strconv.Atoi(k)
			if argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c)); strings.Contains(string(argv), "__watchdog") {
				return c
			}
		}
	}
	return 0
}

// runReleased runs three `graft run` processes of the released binary:
// handovers for the start delay, then a window at rest shared with a
// library node cluster.
func runReleased(env *testbed.Env, root, graftBin string, handovers int, rest time.Duration, r *Run) error {
	if _, err := os.Stat(graftBin); err != nil {
		return fmt.Errorf("run: no graft binary: %w (make graft)", err)
	}
	dir, err := env.Dir("graft-run")
	if err != nil {
		return err
	}
	child := filepath.Join(env.Bin, "run_child")
	if out, err := exec.Command("cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-o", child, filepath.Join(root, "bench", "probes", "run_child.c")).CombinedOutput(); err != nil {
		return fmt.Errorf("run: cc run_child.c: %v: %s", err, out)
	}
	childLog := filepath.Join(dir, "children.log")
	ids := testbed.IDs(3)
	listen, err := testbed.Addrs("udp", ids)
	if err != nil {
		return err
	}
	nodes := map[string]*runNode{}
	for _, id := range ids {
		args := []string{"run", "--cluster", "graft-bench", "--id", id, "--listen", listen[id], "--state", filepath.Join(dir, id+".state"), "--certs", env.Certs()}
		for _, p := range ids {
			if p != id {
				args = append(args, "--peer", p+"="+listen[p])
			}
		}
		nodes[id] = &runNode{id: id, args: append(args, "--", child, childLog), errFile: filepath.Join(dir, id+".err")}
	}
	defer func() {
		for _, p := range nodes {
			if p.cmd != nil {
				p.stop(10 * time.Second)
			}
		}
	}()
	for _, id := range ids {
		if err := nodes[id].start(graftBin); err != nil {
			return err
		}
	}
	starts, err := waitStarts(childLog, 1, 30*time.Second)
	if err != nil {
		return err
	}
	log.Printf("run: released graft, lease to child start over %d handovers (SIGTERM to the leading graft)", handovers)
	for i := 0; i < handovers; i++ {
		cur := starts[len(starts)-1]
		p := nodes[cur.node]
		if err := p.stop(10 * time.Second); err != nil {
			return err
		}
		if starts, err = waitStarts(childLog, len(starts)+1, 15*time.Second); err != nil {
			return err
		}
		if err := p.start(graftBin); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // let the restarted node rejoin: pacing
	}
	for _, s := range starts {
		if at, ok := leaseAt(nodes[s.node].errFile, s.node, s.term); ok && s.ns > at {
			r.StartDelayMs = append(r.StartDelayMs, float64(s.ns-at)/1e6)
		}
	}
	d := stat.Summarize(r.StartDelayMs)
	log.Printf("  lease to child start: p50 %.2f ms, p99 %.2f ms (%d)", d.Median, d.P99, d.N)

	// The library node cluster runs beside it, and both are measured over
	// the same window, so that both see the same load from the rest of the
	// machine.
	b, err := env.Graft(3, testbed.Timing{}, false, testbed.Options{})
	if err != nil {
		return err
	}
	defer b.Close()
	if _, err := b.StartAll(); err != nil {
		return err
	}
	if _, err := b.WaitStable(30*time.Second, quiet, true); err != nil {
		return fmt.Errorf("run: the library nodes elected no stable leader: %w", err)
	}
	time.Sleep(2 * time.Second) // at rest: every node joined, nothing happening
	leader := childStarts(childLog)
	lead := leader[len(leader)-1].node
	type pids struct{ g, w int }
	ps := map[string]pids{}
	for _, id := range ids {
		g := nodes[id].cmd.Process.Pid
		ps[id] = pids{g, watchdogPid(g)}
		if ps[id].w == 0 {
			return fmt.Errorf("run: graft %s (pid %d) has no watchdog", id, g)
		}
	}
	libPids := b.Pids()
	cpu := func(pid int) int64 { ns, _ := cluster.CPUNanos(pid); return ns }
	c0 := map[int]int64{}
	for _, p := range ps {
		c0[p.g], c0[p.w] = cpu(p.g), cpu(p.w)
	}
	for _, p := range libPids {
		c0[p] = cpu(p)
	}
	log.Printf("run: graft run and library nodes (graftnode) side by side at rest, %s", rest)
	began := time.Now()
	time.Sleep(rest)
	secs := time.Since(began).Seconds()
	r.RestSeconds = secs
	perSec := func(pid int) float64 { return float64(cpu(pid)-c0[pid]) / 1e6 / secs }
	lib := Idle{Lib: b.Lib, Nodes: b.Nodes, Seconds: secs}
	for _, id := range b.IDs() {
		v := perSec(libPids[id])
		lib.CPUMsPerSecNodes = append(lib.CPUMsPerSecNodes, v)
		lib.CPUMsPerNodeSec += v / float64(b.Nodes)
		rss, _ := cluster.RSSKiB(libPids[id])
		lib.RSSKiB = append(lib.RSSKiB, rss)
	}
	for _, id := range ids {
		p := ps[id]
		x := RunRest{ID: id, Leads: id == lead, WatchdogP: p.w, GraftCPU: perSec(p.g), WdCPU: perSec(p.w)}
		x.GraftRSS, _ = cluster.RSSKiB(p.g)
		x.WdRSS, _ = cluster.RSSKiB(p.w)
		if u, err := cluster.ResidentUnionKiB(p.g, p.w); err == nil {
			x.PairKiB = u
		} else {
			log.Printf("  %v", err)
		}
		r.Rest = append(r.Rest, x)
		log.Printf("  at rest %s (leads %v): VmRSS graft %.1f MiB + watchdog %.1f MiB, resident for the pair %.1f MiB; CPU %.2f + %.2f ms/s",
			id, x.Leads, kib(x.GraftRSS), kib(x.WdRSS), kib(x.PairKiB), x.GraftCPU, x.WdCPU)
	}
	r.Lib = lib
	log.Printf("  %s", lib.line())
	return nil
}
