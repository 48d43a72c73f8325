package transport

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Helpers that run graft nodes as separate OS processes: the testnode
// program (internal/testnode) built with go build, one process per node,
// its stdout parsed line by line.

// buildTestnode builds internal/testnode into a temporary directory.
func buildTestnode(tb testing.TB) string { return buildProgram(tb, "testnode") }

// buildProgram builds the command internal/<name> into a temporary
// directory and returns its path.
func buildProgram(tb testing.TB, name string) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "./internal/"+name).CombinedOutput()
	require.NoError(tb, err, "go build ./internal/%s:\n%s", name, out)
	return bin
}

// line is one parsed output line of testnode: its kind (EVENT, STATS, ...)
// and its key=value fields.
type line struct {
	kind string
	f    map[string]string
}

func (l line) ms() float64 {
	v, _ := strconv.ParseFloat(l.f["ms"], 64)
	return v
}

func (l line) uint(key string) uint64 {
	v, _ := strconv.ParseUint(l.f[key], 10, 64)
	return v
}

func parseLine(s string) (line, bool) {
	kind, rest, ok := strings.Cut(s, " ")
	if !ok {
		return line{}, false
	}
	l := line{kind: kind, f: map[string]string{}}
	for _, kv := range strings.Fields(rest) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			l.f[k] = v
		}
	}
	return l, true
}

// proc is a running testnode process.
type proc struct {
	id     string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	exited chan struct{} // closed once stdout is drained and the process reaped

	mu    sync.Mutex
	lines []line
	raw   []string
}

// startProc starts bin with args, and env added to the environment. The
// process is killed (if still running) at test end, and its output logged
// if the test failed.
func startProc(tb testing.TB, id string, env []string, bin string, args ...string) *proc {
	tb.Helper()
	p := &proc{id: id, cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, p.cmd.Start())
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l, ok := parseLine(sc.Text())
			p.mu.Lock()
			p.raw = append(p.raw, sc.Text())
			if ok {
				p.lines = append(p.lines, l)
			}
			p.mu.Unlock()
		}
		p.cmd.Wait()
	}()
	tb.Cleanup(func() {
		p.kill()
		if tb.Failed() {
			p.mu.Lock()
			tb.Logf("%s (pid %d) printed:\n%s\nstderr:\n%s", id, p.cmd.Process.Pid, strings.Join(p.raw, "\n"), p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// signal sends sig (not SIGKILL; see kill).
func (p *proc) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

// snapshot returns the lines of kind printed so far.
func (p *proc) snapshot(kind string) []line {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ls []line
	for _, l := range p.lines {
		if l.kind == kind {
			ls = append(ls, l)
		}
	}
	return ls
}

// last returns the latest EVENT line, and false before the first.
func (p *proc) last() (line, bool) {
	ev := p.snapshot("EVENT")
	if len(ev) == 0 {
		return line{}, false
	}
	return ev[len(ev)-1], true
}

// stats asks for a STATS line (SIGUSR1) and waits for it.
func (p *proc) stats(tb testing.TB) line {
	tb.Helper()
	n := len(p.snapshot("STATS"))
	p.signal(syscall.SIGUSR1)
	var l line
	require.Eventually(tb, func() bool {
		s := p.snapshot("STATS")
		if len(s) > n {
			l = s[n]
			return true
		}
		return false
	}, 10*time.Second, time.Millisecond, "%s printed no STATS", p.id)
	return l
}

// procCluster is a set of testnode processes on loopback.
type procCluster struct {
	tb       testing.TB
	bin      string
	certs    string
	stateDir string
	ids      []string
	addrs    map[string]string
	timings  []string // -heartbeat ... flags
	extra    []string // more flags
	env      []string // more environment variables
	procs    map[string]*proc
}

// startProcCluster builds testnode and starts one process per id, with
// the given timings, env added to the environment, and extra flags.
func startProcCluster(tb testing.TB, ids []string, hb, emin, emax time.Duration, env []string, extra ...string) *procCluster {
	tb.Helper()
	c := &procCluster{
		tb:       tb,
		bin:      buildTestnode(tb),
		certs:    certDir(tb, ids...),
		stateDir: tb.TempDir(),
		ids:      ids,
		addrs:    map[string]string{},
		timings:  []string{"-heartbeat", hb.String(), "-election-min", emin.String(), "-election-max", emax.String()},
		extra:    extra,
		env:      env,
		procs:    map[string]*proc{},
	}
	for _, id := range ids {
		c.addrs[id] = freeUDPAddr(tb)
	}
	for _, id := range ids {
		c.start(id)
	}
	return c
}

// start (re)starts the process of id, with its state file and address.
func (c *procCluster) start(id string) *proc {
	args := []string{"-id", id, "-listen", c.addrs[id], "-certs", c.certs,
		"-state", filepath.Join(c.stateDir, id+".state")}
	for _, p := range c.ids {
		if p != id {
			args = append(args, "-peer", p+"="+c.addrs[p])
		}
	}
	args = append(append(args, c.timings...), c.extra...)
	p := startProc(c.tb, id, c.env, c.bin, args...)
	c.procs[id] = p
	return p
}

// leader waits until one process other than except leads (lead=1) and
// every other process, except those, follows it in the same term. It
// returns the leader's id and term.
func (c *procCluster) leader(timeout time.Duration, except ...string) (string, uint64) {
	c.tb.Helper()
	var id string
	var term uint64
	require.Eventually(c.tb, func() bool {
		id, term = "", 0
		evs := map[string]line{}
		for pid, p := range c.procs {
			if isIn(pid, except) {
				continue
			}
			ev, ok := p.last()
			if !ok {
				return false
			}
			evs[pid] = ev
			if ev.f["lead"] == "1" {
				if id != "" {
					return false
				}
				id, term = pid, ev.uint("term")
			}
		}
		if id == "" {
			return false
		}
		for pid, ev := range evs {
			if pid != id && (ev.f["state"] != "follower" || ev.f["leader"] != id || ev.uint("term") != term) {
				return false
			}
		}
		return true
	}, timeout, 2*time.Millisecond, "no process leads with every other following")
	return id, term
}

func isIn(s string, set []string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

// String describes the cluster's latest events, for failure messages.
func (c *procCluster) String() string {
	var b strings.Builder
	for _, id := range c.ids {
		ev, _ := c.procs[id].last()
		fmt.Fprintf(&b, "%s: %v; ", id, ev.f)
	}
	return b.String()
}
