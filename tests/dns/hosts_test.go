package dns

// Which hosts file Go's resolver reads inside `ip netns exec`, and how late
// it sees a change: the figure behind every "time from the new mapping"
// of dns_test.go.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lookupEnv, set to a name, makes the test binary a lookup helper
// (TestMain): it looks the name up every lookupEvery with Go's resolver,
// as a node does at each dial, and prints "ANSWER <addresses or error>"
// whenever the answer changes.
const (
	lookupEnv   = "GRAFT_DNS_LOOKUP"
	lookupEvery = 20 * time.Millisecond
)

func lookupLoop(name string) {
	last := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
		cancel()
		for k, ip := range ips {
			ips[k] = ip.Unmap() // Go gives an IPv4 address of a hosts file in its 16-byte form
		}
		s := fmt.Sprint(ips)
		if err != nil {
			s = "error"
		}
		if s != last {
			fmt.Println("ANSWER", s)
			last = s
		}
		time.Sleep(lookupEvery) // the helper's pace, not a synchronisation
	}
}

// helper is a running lookup helper.
type helper struct {
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	mu      sync.Mutex
	answers []stamped
}

// startHelper runs the lookup helper for name in node i's namespace, with
// GODEBUG=netdns=1 (the resolver says which it is, on stderr).
func startHelper(t *testing.T, i int, name string) *helper {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: exec.Command("ip", "netns", "exec", nsName(i), self)}
	h.cmd.Env = append(os.Environ(), lookupEnv+"="+name, "GODEBUG=netdns=1")
	h.cmd.Stderr = &h.stderr
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.mu.Lock()
			h.answers = append(h.answers, stamped{time.Now(), strings.TrimPrefix(sc.Text(), "ANSWER ")})
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() { h.cmd.Process.Kill(); h.cmd.Wait() })
	return h
}

// last returns the latest answer and when it came.
func (h *helper) last() stamped {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.answers) == 0 {
		return stamped{}
	}
	return h.answers[len(h.answers)-1]
}

// await waits up to d for the answer want and returns when it came.
func (h *helper) await(t *testing.T, d time.Duration, want string) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for h.last().text != want {
		if time.Now().After(deadline) {
			h.mu.Lock()
			defer h.mu.Unlock()
			t.Fatalf("lookup helper: no answer %q within %s; answers %v; stderr:\n%s", want, d, h.answers, h.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return h.last().at
}

// TestHostsFile_SeenByGoInNamespace: inside `ip netns exec NS`, Go's
// resolver reads /etc/netns/NS/hosts (bind-mounted over /etc/hosts) and
// sees it rewritten in place at most cacheMaxAge (5 s, net/hosts.go) later:
// it keeps what it read for 5 s, then checks the file's mtime and size.
// So a change waits 5 s minus the time since the resolver last checked:
// rewritten 1, 2.5 and 4 s after a check, it is seen about 4, 2.5 and 1 s
// later, never earlier. A file renamed over the hosts file (an atomic
// write) is another inode, never seen by a process already running; a new
// process sees it.
func TestHostsFile_SeenByGoInNamespace(t *testing.T) {
	const name = "probe.gdns.test"
	addr := func(k int) string { return fmt.Sprintf("10.78.0.%d", 100+k) }
	setupNetwork(t, 1, hostsFile(map[string]string{name: addr(0)}))
	h := startHelper(t, 1, name)
	seen := h.await(t, 10*time.Second, "["+addr(0)+"]")
	t.Logf("first answer %s: Go reads the namespace's hosts file as /etc/hosts", addr(0))
	for _, l := range strings.Split(h.stderr.String(), "\n") {
		if strings.Contains(l, "go package net") {
			t.Logf("resolver: %s", strings.TrimSpace(l))
		}
	}

	const cacheMaxAge = 5 * time.Second
	for k, pause := range []time.Duration{time.Second, 2500 * time.Millisecond, 4 * time.Second} {
		// seen is when the resolver last read the file (it read it to
		// answer): the next check is cacheMaxAge after it.
		time.Sleep(time.Until(seen.Add(pause))) // the phase of the rewrite: what is measured
		wrote := time.Now()
		writeHosts(t, 1, hostsFile(map[string]string{name: addr(k + 1)}))
		seen = h.await(t, cacheMaxAge+5*time.Second, "["+addr(k+1)+"]")
		late := seen.Sub(wrote)
		t.Logf("rewritten %s after the resolver's last read: seen %s later (expected about %s)",
			pause, late.Round(time.Millisecond), cacheMaxAge-pause)
		// Never before the check is due (lookupEvery and the pipe aside):
		// under load it can only come later.
		if min := cacheMaxAge - pause - 2*lookupEvery - 50*time.Millisecond; late < min {
			t.Errorf("seen %s after the rewrite, before the resolver's check was due (%s): is the hosts cache gone?", late, min)
		}
	}

	// An atomic replacement is a new inode: the running process keeps the
	// old file. Waiting out a full cacheMaxAge and more shows it.
	path := filepath.Join(netnsDir, nsName(1), "hosts")
	if err := os.WriteFile(path+".new", []byte(hostsFile(map[string]string{name: addr(9)})), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(cacheMaxAge + time.Second) // what must NOT happen meanwhile is checked after
	if got := h.last().text; got != "["+addr(3)+"]" {
		t.Fatalf("after a rename over the hosts file the running process answers %s, want the old %s", got, addr(3))
	}
	fresh := startHelper(t, 1, name)
	fresh.await(t, 10*time.Second, "["+addr(9)+"]")
	t.Logf("renamed over: a running process kept %s after %s, a new one sees %s", addr(3), cacheMaxAge+time.Second, addr(9))
}
