package main

// The graft-run mode (-graft): each namespace runs `graft run` (cmd/graft)
// instead of the library node, with tests/faults/child.c as its command,
// and the checker compares the children's own logged lifetimes
// (checker/runs.go). The faults are those of the library mode, with two
// changes: graft is pure Go and has no test clock, so there is no skew;
// and handover mode is made by the command itself: while the handover file
// exists, each child exits on its own 0-40 ms after it starts, and graft
// (--on-exit=step-down, the default) hands leadership over. A fault of its
// own, term, sends SIGTERM to a graft (stop the child, hand over, exit) and
// starts it again at the heal. Half of the schedules run children that
// ignore SIGTERM (the watchdog must SIGKILL them, grandchild included,
// after --grace 60ms or by the deadline).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graftlib/graft/internal/monotime"
	"github.com/graftlib/graft/tests/faults/checker"
)

// runKinds are the fault kinds of the graft-run mode.
var runKinds = []string{"partition", "oneway", "isolate", "loss", "delay", "kill", "pause", "term", "handover"}

// runMode is the graft-run mode's programs and the figures of every
// schedule.
type runMode struct {
	graft, child string

	runs, overlaps, problems int
	withGrandchild           int
	closestGap               time.Duration
	latestEnd                time.Duration
	margins, goneMargins     []time.Duration
	starts                   []time.Duration
	afterHeal                []time.Duration
	heals, ledAtHeal         int
	ends, reasons            map[string]int
}

func newRunMode(graft, child string) *runMode {
	return &runMode{graft: graft, child: child, closestGap: -1, latestEnd: -1 << 62, ends: map[string]int{}, reasons: map[string]int{}}
}

// childLog is where node i's children write.
func (c *cluster) childLog(i int) string { return filepath.Join(c.dir, fmt.Sprintf("n%d.child", i)) }

// graftArgs is the command line of node i's `graft run`.
func (c *cluster) graftArgs(i int) []string {
	args := []string{"netns", "exec", nsName(i), c.run.graft, "run",
		"--cluster", "graft-faults",
		"--id", fmt.Sprintf("n%d", i),
		"--listen", fmt.Sprintf("%s:%d", nodeIP(i), nodePort),
		"--state", filepath.Join(c.dir, fmt.Sprintf("n%d.graft", i)),
		"--certs", c.certs,
		"--heartbeat", fmt.Sprintf("%dms", heartbeatMS),
		"--election", fmt.Sprintf("%dms-%dms", electionMinMS, electionMaxMS),
	}
	if c.ignoreTerm {
		args = append(args, "--grace", "60ms")
	}
	for j := 1; j <= c.n; j++ {
		if j != i {
			args = append(args, "--peer", fmt.Sprintf("n%d=%s:%d", j, relayIP, listenPort(i, j)))
		}
	}
	args = append(args, "--", c.run.child, "--log", c.childLog(i), "--exit-file", c.handoverFile())
	if c.ignoreTerm {
		args = append(args, "--ignore-term")
	}
	return args
}

// runningChild returns a node whose command is alive now, by its log: the
// last line written within 20 ms (a child writes every millisecond) and
// not its last word.
func (c *cluster) runningChild() (int, bool) {
	now := monotime.Now()
	for i := 1; i <= c.n; i++ {
		l, ok := lastLine(c.childLog(i))
		if !ok || now-l.T > int64(20*time.Millisecond) {
			continue
		}
		if w := l.Fields["what"]; w == "start" || w == "tick" {
			return i, true
		}
	}
	return 0, false
}

// lastLine parses the last complete line of a file.
func lastLine(path string) (checker.Line, bool) {
	f, err := os.Open(path)
	if err != nil {
		return checker.Line{}, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return checker.Line{}, false
	}
	off := max(st.Size()-1024, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return checker.Line{}, false
	}
	text := strings.TrimRight(string(buf), "\n")
	if k := strings.LastIndexByte(text, '\n'); k >= 0 {
		text = text[k+1:]
	}
	l, err := checker.ParseLine(text)
	return l, err == nil
}

// terminate sends SIGTERM to node i (graft stops its command, hands
// leadership over and exits) and waits for it, SIGKILL after 3 s.
func (c *cluster) terminate(i int) error {
	cmd, err := c.take(i)
	if err != nil {
		return err
	}
	if err := c.note(i, "TERMINATED", monotime.Now()); err != nil {
		return err
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if !waitOrKill(cmd, 3*time.Second) {
		return fmt.Errorf("graft of n%d did not exit within 3 s of SIGTERM", i)
	}
	return nil
}

// waitEmpty waits until no process is left in the namespaces (watchdogs
// and children finishing a run) and kills what is left after d.
func waitEmpty(d time.Duration) {
	end := time.Now().Add(d)
	for i := 1; i <= maxNodes; i++ {
		for {
			out, _ := exec.Command("ip", "netns", "pids", nsName(i)).Output()
			pids := strings.Fields(string(out))
			if len(pids) == 0 {
				break
			}
			if time.Now().After(end) {
				for _, p := range pids {
					if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// check reads a graft-run schedule's logs, checks them and adds its
// figures.
func (m *runMode) check(sdir string, err error) (failed bool, why []string, figures string) {
	if err != nil {
		return true, []string{err.Error()}, ""
	}
	in, err := checker.ReadRunsDir(sdir)
	if err != nil {
		return true, []string{err.Error()}, ""
	}
	r := checker.CheckRuns(in, checker.Params{ElectionMax: electionMax})
	m.runs += len(r.Runs)
	m.overlaps += len(r.Overlaps)
	m.problems += len(r.Problems)
	for _, c := range r.Runs {
		if c.Procs > 1 {
			m.withGrandchild++
		}
	}
	if r.ClosestGap >= 0 && (m.closestGap < 0 || r.ClosestGap < m.closestGap) {
		m.closestGap = r.ClosestGap
	}
	if len(r.Margins) > 0 {
		m.latestEnd = max(m.latestEnd, r.LatestEnd)
	}
	m.margins = append(m.margins, r.Margins...)
	m.goneMargins = append(m.goneMargins, r.GoneMargin...)
	m.starts = append(m.starts, r.Starts...)
	for _, f := range r.Failovers {
		m.heals++
		if f.LeaderAtHeal {
			m.ledAtHeal++
		} else if f.Found {
			m.afterHeal = append(m.afterHeal, f.Took)
		}
	}
	for k, v := range r.Ends {
		m.ends[k] += v
	}
	for k, v := range r.Reasons {
		m.reasons[k] += v
	}
	why = r.Violations()
	figures = fmt.Sprintf(": runs %d, overlaps %d, closest gap %s, latest end %s the deadline",
		len(r.Runs), len(r.Overlaps), gap(r.ClosestGap), relative(r.LatestEnd))
	return len(why) > 0, why, figures
}

// gap says a closest gap, "-" for none (one run only).
func gap(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.String()
}

// relative says d as "X before" or "X after".
func relative(d time.Duration) string {
	if d <= 0 {
		return fmt.Sprintf("%s before", (-d).Round(time.Microsecond))
	}
	return fmt.Sprintf("%s AFTER", d.Round(time.Microsecond))
}

// print prints the figures of the whole graft-run mode run.
func (m *runMode) print() {
	fmt.Printf("  command runs: %d (%d with a grandchild outside the group); overlaps between nodes: %d; other problems: %d\n",
		m.runs, m.withGrandchild, m.overlaps, m.problems)
	fmt.Printf("  closest gap from one node's command's end to another's start: %s\n", gap(m.closestGap))
	fmt.Printf("  latest command end (its last line) relative to the lease deadline its watchdog held: %s\n", relative(m.latestEnd))
	fmt.Printf("  deadline minus the last line, per run: %s; minus the watchdog's group gone: %s\n",
		checker.Stats(m.margins), checker.Stats(m.goneMargins))
	fmt.Printf("  lease to command started (graft's own figure): %s\n", checker.StatsFine(m.starts))
	fmt.Printf("  runs by how their processes ended: %s; by the watchdog's reason: %s\n", counts(m.ends), counts(m.reasons))
	fmt.Printf("  heals: %d, a command running at %d; the others, a command after %s\n", m.heals, m.ledAtHeal, checker.Stats(m.afterHeal))
}

// counts formats a tally as "k=v k=v" in key order.
func counts(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	return b.String()
}
