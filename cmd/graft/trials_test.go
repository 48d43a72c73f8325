package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRun_Trials (GRAFT_CMD_TRIALS=N; make graft-trials) repeats leader
// faults on a three-process cluster whose child ignores SIGTERM (so every
// stop that is not a clean exit ends in SIGKILL, the worst case): the
// leading graft is in turn stopped (SIGSTOP), killed (SIGKILL) and
// terminated (SIGTERM, --grace 100ms). It prints the margin between each
// group's end and its lease deadline (p50, p99, min), the delay from lease
// to child start, the gap between children, and the RSS of graft and its
// watchdog at rest.
func TestRun_Trials(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GRAFT_CMD_TRIALS"))
	if n <= 0 {
		t.Skip("GRAFT_CMD_TRIALS=N runs N leader faults (make graft-trials)")
	}
	c := newCluster(t, 3, []string{"--grace", "100ms"}, childCmd("ignore"))
	c.waitRun(0, 15*time.Second)
	time.Sleep(time.Second) // at rest
	for _, p := range c.nodes {
		t.Logf("at rest: %s graft RSS %s, watchdog RSS %s", p.id, rss(p.cmd.Process.Pid), rss(watchdogOf(p.cmd.Process.Pid)))
	}
	kinds := []string{"SIGSTOP", "SIGKILL", "SIGTERM"}
	margins := map[string][]float64{}
	for i := 0; i < n; i++ {
		rs := c.runs()
		cur := rs[len(rs)-1]
		p := c.node(cur.node)
		kind := kinds[i%len(kinds)]
		switch kind {
		case "SIGSTOP":
			_ = p.cmd.Process.Signal(syscall.SIGSTOP)
		case "SIGKILL":
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
		case "SIGTERM":
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		waitFor(t, "the old child gone", 3*time.Second, func() bool { return !alive(cur.pid) })
		c.waitRun(len(rs), 10*time.Second)
		if kind == "SIGSTOP" {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		} else {
			c.restart(p.id)
		}
		if e, ok := endingOf(c.endings(), cur); ok {
			margins[kind] = append(margins[kind], float64(e.deadline-c.runByPID(cur.pid).end)/1e6)
		}
		time.Sleep(300 * time.Millisecond) // let the restarted node rejoin
	}
	c.stopAll()
	c.checkLifetimes()
	for _, k := range kinds {
		t.Logf("%s of the leading graft, %d trials: last child line before the lease deadline by %s", k, len(margins[k]), pcts(margins[k]))
	}
	var delays []float64
	re := regexp.MustCompile(`command started \(pid \d+\) (-?[0-9.]+) ms after the lease`)
	for _, p := range c.nodes {
		b, _ := os.ReadFile(p.errFile)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			delays = append(delays, max(v, 0))
		}
	}
	t.Logf("lease acquired to child started (%d): %s", len(delays), pcts(delays))
}

// pcts formats p50, p99 and the extremes in ms.
func pcts(v []float64) string {
	if len(v) == 0 {
		return "no samples"
	}
	sort.Float64s(v)
	q := func(p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
	return fmt.Sprintf("min %.1f ms, p50 %.1f ms, p99 %.1f ms, max %.1f ms", v[0], q(0.5), q(0.99), v[len(v)-1])
}

// rss is a process's resident set from /proc.
func rss(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// watchdogOf finds the watchdog child of a graft process.
func watchdogOf(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(b)) {
		c, _ := strconv.Atoi(f)
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		if strings.Contains(string(cmd), "__watchdog") {
			return c
		}
	}
	return 0
}
