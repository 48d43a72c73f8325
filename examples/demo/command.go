// The second act of `make demo`: any program, no code. Three `graft run`
// processes run worker.sh, a shell script that prints its fencing token as
// it works; only the node holding the lease runs it. The timeline shows
// graft's own lines (lease, command started, its watchdog's report of each
// run's end) and the script's output, with the time since the act began.

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// worker is the command: it works with its fencing token and stops
// cleanly on SIGTERM (`sleep & wait`, so that the trap runs at once).
const worker = `#!/bin/sh
# worker.sh - run by graft run only while its node holds the lease
echo "started: the only worker now, fencing token GRAFT_TERM=$GRAFT_TERM"
trap 'echo "SIGTERM: finishing the current item, exiting"; exit 0' TERM
i=0
while :; do
  i=$((i+1))
  echo "work item $i, written with token $GRAFT_TERM"
  sleep 0.4 & wait $! 2>/dev/null
done
`

var (
	startedRE = regexp.MustCompile(`term (\d+): command started \(pid \d+\) ([0-9.]+) ms after the lease lease_ns=(\d+)`)
	endedRE   = regexp.MustCompile(`term (\d+): command \(pid \d+\) ended, status (\d+) \(([^)]*)\); group gone (-?[0-9.]+) ms before the lease deadline \(([^)]*)\) gone_ns=(\d+)`)
	leaseRE   = regexp.MustCompile(`node \S+ (holds the lease at term \d+|hands leadership to \S+ at term \d+)`)
)

// cmdRun is one run of the command, as graft and its watchdog reported it.
type cmdRun struct {
	term            uint64
	startNS, goneNS int64 // CLOCK_MONOTONIC, from graft's lines
	seenStart       time.Time
	seenEnd         time.Time
	before          float64 // ms between the group gone and the lease deadline
	ended           bool
}

// gcluster is the three graft run processes and what their lines said.
type gcluster struct {
	bin, dir string
	addrs    map[string]string
	t0       time.Time
	reg      *registry

	mu      sync.Mutex
	procs   map[string]*exec.Cmd
	exited  map[string]chan struct{}
	runs    map[string][]*cmdRun
	changed chan struct{}
}

// say prints a timeline line: time since the act began, node, text.
func (g *gcluster) say(id, text string) {
	fmt.Printf("  %7.3fs  %-3s %s\n", time.Since(g.t0).Seconds(), id, text)
}

func (g *gcluster) start(id string) error {
	args := []string{"run", "--cluster", "demo", "--id", id, "--listen", g.addrs[id],
		"--state", filepath.Join(g.dir, id+".graft-state"), "--certs", g.dir}
	for _, p := range ids {
		if p != id {
			args = append(args, "--peer", p+"="+g.addrs[p])
		}
	}
	args = append(args, "--", "/bin/sh", filepath.Join(g.dir, "worker.sh"))
	cmd := exec.Command(filepath.Join(g.bin, "graft"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout // the same pipe: one timeline
	if err := cmd.Start(); err != nil {
		return err
	}
	g.reg.add(cmd.Process.Pid)
	exited := make(chan struct{})
	g.mu.Lock()
	g.procs[id], g.exited[id] = cmd, exited
	g.mu.Unlock()
	// The watchdog and worker.sh write to graft's pipe too: it ends when
	// the last of them is gone (after a SIGKILL of graft, the watchdog
	// still reports the end of the run), then graft is reaped.
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			g.line(id, sc.Text())
		}
		cmd.Wait()
		close(exited)
	}()
	return nil
}

// line shows one line of a node's output and notes what it says.
func (g *gcluster) line(id, text string) {
	if !strings.HasPrefix(text, "graft: ") {
		g.say(id, "worker.sh | "+text)
		return
	}
	g.mu.Lock()
	switch m := (struct{ s, e, l []string }{startedRE.FindStringSubmatch(text), endedRE.FindStringSubmatch(text), leaseRE.FindStringSubmatch(text)}); {
	case m.s != nil:
		term, _ := strconv.ParseUint(m.s[1], 10, 64)
		after, _ := strconv.ParseFloat(m.s[2], 64)
		lease, _ := strconv.ParseInt(m.s[3], 10, 64)
		g.runs[id] = append(g.runs[id], &cmdRun{term: term, startNS: lease + int64(after*1e6), seenStart: time.Now()})
		g.say(id, fmt.Sprintf("graft: command started %s ms after the lease, GRAFT_TERM=%d", m.s[2], term))
	case m.e != nil:
		if r := g.last(id); r != nil {
			r.ended, r.seenEnd = true, time.Now()
			r.before, _ = strconv.ParseFloat(m.e[4], 64)
			r.goneNS, _ = strconv.ParseInt(m.e[6], 10, 64)
		}
		g.say(id, fmt.Sprintf("watchdog: command ended (%s, status %s); whole group gone %s ms before the lease deadline (%s)", m.e[3], m.e[2], m.e[4], m.e[5]))
	case m.l != nil:
		g.say(id, "graft: "+m.l[1])
	case strings.Contains(text, "stopping the command and handing over"):
		g.say(id, "graft: "+strings.TrimPrefix(text, "graft: "))
	}
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// last is the latest run of node id (mu held).
func (g *gcluster) last(id string) *cmdRun {
	if rs := g.runs[id]; len(rs) > 0 {
		return rs[len(rs)-1]
	}
	return nil
}

// running returns the node whose command runs now, if any, but not one of
// except.
func (g *gcluster) running(except ...string) (string, *cmdRun) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		if r := g.last(id); r != nil && !r.ended && !contains(except, id) {
			return id, r
		}
	}
	return "", nil
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// wait waits up to d for cond, re-checked at each line.
func (g *gcluster) wait(d time.Duration, what string, cond func() bool) error {
	end := time.After(d)
	for !cond() {
		select {
		case <-g.changed:
		case <-time.After(20 * time.Millisecond):
		case <-end:
			return fmt.Errorf("%s: not within %s", what, d)
		}
	}
	return nil
}

// waitRun waits for a command to run on a node other than except.
func (g *gcluster) waitRun(d time.Duration, except ...string) (string, *cmdRun, error) {
	var id string
	var r *cmdRun
	err := g.wait(d, "a command running", func() bool { id, r = g.running(except...); return r != nil })
	return id, r, err
}

// waitEnd waits for the watchdog's report of r's end.
func (g *gcluster) waitEnd(d time.Duration, r *cmdRun) error {
	return g.wait(d, "the end of the command", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return r.ended
	})
}

func (g *gcluster) signal(id string, sig syscall.Signal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.procs[id]; p != nil {
		p.Process.Signal(sig)
	}
}

// show lets the timeline run for d.
func (g *gcluster) show(d time.Duration) { time.Sleep(d) }

// commandAct runs the second act with the graft of bin, the certificates
// in dir and the addresses addrs.
func commandAct(bin, dir string, addrs []string, reg *registry) error {
	if err := os.WriteFile(filepath.Join(dir, "worker.sh"), []byte(worker), 0o755); err != nil {
		return err
	}
	g := &gcluster{bin: bin, dir: dir, addrs: map[string]string{}, reg: reg, procs: map[string]*exec.Cmd{},
		exited: map[string]chan struct{}{}, runs: map[string][]*cmdRun{}, changed: make(chan struct{}, 1)}
	for i, id := range ids {
		g.addrs[id] = addrs[i]
	}
	fmt.Println("== act 2: any program, no code. Three `graft run -- sh worker.sh` processes, same timings;")
	fmt.Println("   worker.sh runs only on the node that holds the lease, with GRAFT_TERM as its fencing token")
	g.t0 = time.Now()
	for _, id := range ids {
		if err := g.start(id); err != nil {
			return err
		}
	}
	first, r1, err := g.waitRun(10 * time.Second)
	if err != nil {
		return err
	}
	g.show(1200 * time.Millisecond)

	fmt.Printf("\n== SIGKILL the graft process of %s, the leader: no goodbye; its watchdog, a process of its own, stops worker.sh\n", first)
	kill := time.Now()
	g.signal(first, syscall.SIGKILL)
	if err := g.waitEnd(5*time.Second, r1); err != nil {
		return err
	}
	second, r2, err := g.waitRun(10*time.Second, first)
	if err != nil {
		return err
	}
	fmt.Printf("-> failover: %s's worker.sh gone %.0f ms after the kill, %.1f ms before its lease deadline; %s's started %.0f ms after the kill,\n   %.1f ms after the other was gone: never two at once\n",
		first, ms(r1.seenEnd.Sub(kill)), r1.before, second, ms(r2.seenStart.Sub(kill)), float64(r2.startNS-r1.goneNS)/1e6)
	g.show(800 * time.Millisecond)

	fmt.Printf("\n== %s's graft starts again from its state file: it rejoins as a follower\n", first)
	if err := g.start(first); err != nil {
		return err
	}
	g.show(800 * time.Millisecond)

	fmt.Printf("\n== SIGSTOP the graft process of %s: frozen, it renews nothing and cannot stop worker.sh; its watchdog does, by the deadline\n", second)
	g.signal(second, syscall.SIGSTOP)
	if err := g.waitEnd(5*time.Second, r2); err != nil {
		return err
	}
	third, r3, err := g.waitRun(10*time.Second, second)
	if err != nil {
		return err
	}
	fmt.Printf("-> %s's worker.sh gone %.1f ms before its lease deadline while its graft was stopped; %s's started %.1f ms after it was gone\n",
		second, r2.before, third, float64(r3.startNS-r2.goneNS)/1e6)
	fmt.Printf("\n== SIGCONT %s: its graft resumes, learns the new term and follows\n", second)
	g.signal(second, syscall.SIGCONT)
	g.show(800 * time.Millisecond)

	fmt.Printf("\n== SIGTERM the graft of %s: it stops worker.sh, hands leadership over, exits\n", third)
	term := time.Now()
	g.signal(third, syscall.SIGTERM)
	if err := g.waitEnd(5*time.Second, r3); err != nil {
		return err
	}
	fourth, r4, err := g.waitRun(10*time.Second, third)
	if err != nil {
		return err
	}
	fmt.Printf("-> handover: %s's worker.sh started %.0f ms after the SIGTERM, %.1f ms after %s's was gone (no election timeout to wait)\n",
		fourth, ms(r4.seenStart.Sub(term)), float64(r4.startNS-r3.goneNS)/1e6, third)
	g.show(800 * time.Millisecond)

	fmt.Println("\n== stopping every graft (SIGTERM: each stops its worker.sh, the leader hands over, all exit)")
	if id, ok := stopAll(ids, g.signal, func(id string) chan struct{} {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.exited[id]
	}); !ok {
		return fmt.Errorf("graft of %s did not exit within 5 s of SIGTERM", id)
	}
	return nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / 1e6 }
