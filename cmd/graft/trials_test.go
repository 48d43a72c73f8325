package main

import (
	"encoding/json"
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
// terminated (SIGTERM, --grace 100ms), and as root cut off from its peers
// (iptables). It prints the margin between each
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
	fw := newFirewall(t)
	if fw != nil {
		kinds = append(kinds, "isolated") // root: cut off by iptables
	}
	margins := map[string][]float64{}
	gone := map[string][]float64{} // deadline minus the watchdog's "group gone", ms
	unmatched := map[string]int{}  // trials whose run had no watchdog report
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
		case "isolated":
			fw.isolate(c.listenPort(p.id))
		}
		waitFor(t, "the old child gone", 3*time.Second, func() bool { return !alive(cur.pid) })
		c.waitRun(len(rs), 10*time.Second)
		switch kind {
		case "SIGSTOP":
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		case "isolated":
			fw.heal()
		default:
			c.restart(p.id)
		}
		if e, ok := endingOf(c.endings(), cur); ok {
			margins[kind] = append(margins[kind], float64(e.deadline-c.runByPID(cur.pid).end)/1e6)
			gone[kind] = append(gone[kind], float64(e.deadline-e.gone)/1e6)
		} else {
			unmatched[kind]++
		}
		time.Sleep(300 * time.Millisecond) // let the restarted node rejoin
	}
	c.stopAll()
	c.checkLifetimes()
	for _, k := range kinds {
		t.Logf("leading graft %s, %d trials: last child line before the lease deadline by %s", k, len(margins[k]), pcts(margins[k]))
	}
	// From the lease callback to the child's own first line: the
	// watchdog's fork, `graft __exec`, CMD's exec and its start-up.
	var delays []float64
	re := regexp.MustCompile(`node (\S+) term (\d+): command started .* lease_ns=(\d+)`)
	for _, p := range c.nodes {
		b, _ := os.ReadFile(p.errFile)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			at, _ := strconv.ParseInt(m[3], 10, 64)
			for _, r := range c.runs() {
				if r.node == m[1] && strconv.FormatUint(r.term, 10) == m[2] && r.start > at {
					delays = append(delays, float64(r.start-at)/1e6)
					break
				}
			}
		}
	}
	t.Logf("lease acquired to the child's first line (%d): %s", len(delays), pcts(delays))
	// GRAFT_CMD_TRIALS_OUT=FILE: the samples as JSON, for make bench.
	if out := os.Getenv("GRAFT_CMD_TRIALS_OUT"); out != "" {
		b, _ := json.Marshal(map[string]any{"kinds": kinds, "trials": n, "margin_last_line_ms": margins,
			"margin_gone_ms": gone, "unmatched": unmatched, "start_delay_ms": delays})
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Error(err)
		}
	}
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

// watchdogOf finds the watchdog child of a graft process (forked by any
// of its threads).
func watchdogOf(pid int) int {
	var b []byte
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		b = append(append(b, ' '), c...)
	}
	for _, f := range strings.Fields(string(b)) {
		c, _ := strconv.Atoi(f)
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		if strings.Contains(string(cmd), "__watchdog") {
			return c
		}
	}
	return 0
}
