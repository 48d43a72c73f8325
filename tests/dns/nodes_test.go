package dns

// Nodes as real processes: transport/internal/testnode (election over
// QUIC), one per namespace, started with `ip netns exec`, its stdout read
// line by line and each line stamped when it arrives (the figures are in
// hundreds of milliseconds and more; a pipe adds microseconds).

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graftlib/graft/transport"
)

// Node timings: the multi-process tests' (transport/multiprocess_test.go).
var timings = []string{"-heartbeat", "25ms", "-election-min", "150ms", "-election-max", "250ms"}

// stamped is one output line and when it arrived.
type stamped struct {
	at   time.Time
	text string
}

// field returns the value of key in a line of key=value fields ("" if
// absent; quoted values are not split out).
func (l stamped) field(key string) string {
	for _, f := range strings.Fields(l.text) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// proc is a running node.
type proc struct {
	id     string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{} // closed once stdout is drained and the process reaped

	mu    sync.Mutex
	lines []stamped
}

// lines returns the lines that begin with kind, from since on.
func (p *proc) linesOf(kind string, since time.Time) []stamped {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []stamped
	for _, l := range p.lines {
		if strings.HasPrefix(l.text, kind+" ") && !l.at.Before(since) {
			out = append(out, l)
		}
	}
	return out
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// alive reports whether the process still runs.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s (pid %d):\n", p.id, p.cmd.Process.Pid)
	for _, l := range p.lines {
		fmt.Fprintf(&b, "  %s %s\n", l.at.Format("15:04:05.000"), l.text)
	}
	fmt.Fprintf(&b, "  stderr: %s", p.stderr.String())
	return b.String()
}

// env is what every scenario shares: the testnode binary, certificates
// for n1..n5 and a directory for state files.
type env struct {
	bin, certs, state string
}

// newEnv builds testnode and the certificates.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{bin: filepath.Join(dir, "testnode"), certs: filepath.Join(dir, "certs"), state: dir}
	out, err := exec.Command("go", "build", "-o", e.bin, "github.com/graftlib/graft/transport/internal/testnode").CombinedOutput()
	if err != nil {
		t.Fatalf("go build testnode: %v\n%s", err, out)
	}
	ids := make([]string, maxNodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	if err := transport.GenerateCerts(e.certs, ids); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs node i in its namespace, listening on listen, its peers given
// as id=addr. It is killed when t ends (its output logged if t failed).
func (e *env) start(t *testing.T, i int, listen string, peers map[string]string) *proc {
	t.Helper()
	id := fmt.Sprintf("n%d", i)
	args := []string{"netns", "exec", nsName(i), e.bin, "-id", id, "-listen", listen, "-certs", e.certs,
		"-state", filepath.Join(e.state, id+".state"), "-poll", "2ms", "-log"}
	args = append(args, timings...)
	for p, addr := range peers {
		args = append(args, "-peer", p+"="+addr)
	}
	p := &proc{id: id, cmd: exec.Command("ip", args...), done: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil { // ip execs testnode: the same pid
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, stamped{time.Now(), sc.Text()})
			p.mu.Unlock()
		}
		p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Log(p)
		}
	})
	return p
}

// waitFor polls cond every 5 ms until it holds or d passes, then fails t
// with msg and the nodes' output.
func waitFor(t *testing.T, d time.Duration, cond func() bool, ps []*proc, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, p := range ps {
				b.WriteString(p.String())
				b.WriteString("\n")
			}
			t.Fatalf("after %s: %s\n%s", d, fmt.Sprintf(msg, args...), b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaderOf returns the leader that every live node of ps agrees on, in
// their latest EVENT lines ("" if they do not agree or none leads), and
// the node that holds the lease (lead=1).
func leaderOf(ps []*proc) string {
	leader := ""
	for _, p := range ps {
		ev := p.linesOf("EVENT", time.Time{})
		if len(ev) == 0 {
			return ""
		}
		l := ev[len(ev)-1].field("leader")
		if l == "-" || (leader != "" && l != leader) {
			return ""
		}
		leader = l
	}
	for _, p := range ps {
		if p.id == leader {
			ev := p.linesOf("EVENT", time.Time{})
			if ev[len(ev)-1].field("lead") != "1" {
				return ""
			}
		}
	}
	return leader
}

// errorsAbout returns the ERROR lines of p since since that contain every
// one of parts.
func errorsAbout(p *proc, since time.Time, parts ...string) []stamped {
	var out []stamped
	for _, l := range p.linesOf("ERROR", since) {
		all := true
		for _, s := range parts {
			all = all && strings.Contains(l.text, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// mustRun checks that p still runs (a bad peer address must not end it).
func mustRun(t *testing.T, p *proc) {
	t.Helper()
	if !p.alive() {
		t.Fatalf("%s exited\n%s", p.id, p)
	}
}

// TestMain fails every test without root, unless the binary runs as the
// lookup helper (hosts_test.go).
func TestMain(m *testing.M) {
	if name := os.Getenv(lookupEnv); name != "" {
		lookupLoop(name)
		return
	}
	if err := needs(); err != nil {
		fmt.Fprintln(os.Stderr, "tests/dns:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
