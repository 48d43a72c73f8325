package main

import (
	"context"
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
	"github.com/graftlib/graft/bench/internal/testbed"
)

// The flood rows (issue 18): three graft nodes as processes (the flood
// test's own node program, transport/internal/testnode, which measures how
// late heartbeats and their answers arrive), and a stranger with no
// certificate (transport/internal/flooder) flooding the leader's UDP port
// at full speed in each mode in turn. Both programs are the ones `make
// flood` runs; here they are built from the repository and driven by the
// harness, which also samples the leader's RSS.

// FloodWindow is one measuring window at the leader: without flood (the
// baseline) or under one flood mode.
type FloodWindow struct {
	Mode string `json:"mode"` // "" for the baseline; garbage, hello, chain
	Name string `json:"name"`
	// The flooder's own report: packets (or handshakes) sent, over secs.
	Sent int64   `json:"sent,omitempty"`
	Secs float64 `json:"secs"`
	// Heartbeat delay at the leader over the window: how late each
	// follower's answer came after the previous one, less the heartbeat
	// interval (a lost answer counts as one interval late), in ms.
	HbN    int     `json:"hb_n"`
	HbP50  float64 `json:"hb_p50_ms"`
	HbP99  float64 `json:"hb_p99_ms"`
	HbMax  float64 `json:"hb_max_ms"`
	CPUPct float64 `json:"leader_cpu_pct"` // of one core, over the window
	// The leader's VmRSS: before the window, its peak (sampled every 50
	// ms), and -flood-after after the flood ended.
	RSSBeforeKiB int `json:"rss_before_kib"`
	RSSPeakKiB   int `json:"rss_peak_kib"`
	RSSAfterKiB  int `json:"rss_after_kib"`
	// The Go runtime's metadata (runtime/metrics /memory/classes/metadata/:
	// span sets, GC bitmaps, mspans, mcaches), before the window and at the
	// RSS reading after it: the runtime never returns it to the OS, so what
	// a flood adds to it stays (docs/transport.md, "Floods").
	MetaBeforeKiB int `json:"runtime_metadata_before_kib"`
	MetaAfterKiB  int `json:"runtime_metadata_after_kib"`
	Goroutines    int `json:"goroutines_at_end"`
	// Datagrams the kernel dropped at the leader's UDP socket over the
	// window (its receive buffer was full): strangers' and peers' alike.
	Drops int64 `json:"udp_drops"`
	// Of them, at the peers' own socket (the node program's STATS; the
	// port is two sockets since issue 18's steering, docs/transport.md;
	// zero before).
	PeerDrops  int64  `json:"udp_drops_peers_socket"`
	Handshakes uint64 `json:"handshake_failed_counted"`
	// Changes seen by any node from the window's start to the RSS reading
	// after it: EVENT lines naming another leader (or none), another term.
	LeaderChanges int `json:"leader_changes"`
	TermChanges   int `json:"term_changes"`
}

// FloodRun is the windows measured on one tree's node program.
type FloodRun struct {
	Tree   string `json:"tree"` // "this tree", or the commit measured before the fix
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	// How long after the election the baseline began, and the collections
	// the leader had completed by then (floodSettleGCs, or the settle cap).
	SettleSecs float64       `json:"settle_s"`
	GCCycles   int           `json:"gc_cycles_at_baseline"`
	Base       FloodWindow   `json:"baseline"`
	Modes      []FloodWindow `json:"modes"`
	Err        string        `json:"error,omitempty"`
}

// Flood is the flood section's result.
type Flood struct {
	Nodes    int     `json:"nodes"`
	Timing   string  `json:"timing"`
	Secs     int     `json:"secs_per_mode"`
	Rate     int     `json:"rate"` // 0: full speed
	AfterSec float64 `json:"rss_after_s"`
	// Settle is the longest wait for the leader to settle before the
	// baseline (-flood-settle).
	Settle float64  `json:"settle_cap_s"`
	After  FloodRun `json:"after"`
	// Before: the same windows with the node program built on the tree
	// before issue 18's first fix (the flooder is this tree's).
	Before *FloodRun `json:"before,omitempty"`
	Err    string    `json:"error,omitempty"`
}

var floodModes = []struct{ mode, name string }{
	{"garbage", "garbage Initials (fresh connection ids, payload never decrypts)"},
	{"hello", "Initials with real ClientHellos"},
	{"chain", "junk certificate chains from 4 dialers"},
}

// flood runs the flood section on this tree and, if before names a
// commit, on that tree's node program too. Errors end a part early and are
// recorded.
func flood(env *testbed.Env, root, goTool, before string, secs, rate int, after, settle time.Duration) Flood {
	r := Flood{Nodes: 3, Timing: "default timings: heartbeat 50 ms, election 300–450 ms", Secs: secs, Rate: rate, AfterSec: after.Seconds(), Settle: settle.Seconds()}
	if err := env.BuildRoot(goTool, root, "./transport/internal/testnode", "./transport/internal/flooder"); err != nil {
		r.Err = err.Error()
		return r
	}
	r.After.Tree = "this tree"
	if err := floodRun(env, filepath.Join(env.Bin, "testnode"), secs, rate, after, settle, &r.After); err != nil {
		r.After.Err = err.Error()
		log.Printf("flood: %v", err)
	}
	if before != "" {
		b := &FloodRun{Tree: before}
		r.Before = b
		log.Printf("flood: the same on the node program of %s (before the fix)", before)
		bin, err := buildBefore(env, root, goTool, before)
		if err == nil {
			err = floodRun(env, bin, secs, rate, after, settle, b)
		}
		if err != nil {
			b.Err = err.Error()
			log.Printf("flood before: %v", err)
		}
	}
	return r
}

// buildBefore builds this tree's testnode program against the graft code of
// commit ref, in a git worktree of its own (removed after): testnode and
// its heartbeat watch came with the fix, the transport under it is ref's.
func buildBefore(env *testbed.Env, root, goTool, ref string) (string, error) {
	dir := filepath.Join(env.Work, "before")
	if out, err := exec.Command("git", "-C", root, "worktree", "add", "--detach", dir, ref).CombinedOutput(); err != nil {
		return "", fmt.Errorf("git worktree add %s: %v: %s", ref, err, out)
	}
	defer exec.Command("git", "-C", root, "worktree", "remove", "--force", dir).Run()
	// testnode and the packages of this tree it needs that ref lacks.
	for _, pkg := range []string{"transport/internal/testnode", "internal/monotime"} {
		files, _ := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		if err := os.MkdirAll(filepath.Join(dir, pkg), 0o755); err != nil {
			return "", err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(dir, pkg, filepath.Base(f)), b, 0o644); err != nil {
				return "", err
			}
		}
	}
	bin := filepath.Join(env.Bin, "testnode-before")
	cmd := exec.Command(goTool, "build", "-o", bin, "./transport/internal/testnode")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building testnode on %s: %v: %s", ref, err, out)
	}
	return bin, nil
}

func floodRun(env *testbed.Env, testnode string, secs, rate int, after, settle time.Duration, r *FloodRun) error {
	dir, err := env.Dir("flood")
	if err != nil {
		return err
	}
	ids := testbed.IDs(3)
	listen, err := testbed.Addrs("udp", ids)
	if err != nil {
		return err
	}
	c := cluster.New(cluster.Spec{Name: "flood", IDs: ids, Log: env.Log, Command: func(id string) (string, []string) {
		args := []string{"-id", id, "-listen", listen[id], "-state", filepath.Join(dir, id+".state"), "-certs", env.Certs(), "-poll", "0"}
		for _, p := range ids {
			if p != id {
				args = append(args, "-peer", p+"="+listen[p])
			}
		}
		return testnode, args
	}})
	defer c.Close()
	if _, err := c.StartAll(); err != nil {
		return err
	}
	leader, term, err := testnodeLeader(c, 30*time.Second)
	if err != nil {
		return err
	}
	r.Leader, r.Term = leader, term
	pid := c.Pids()[leader]
	_, ps, _ := strings.Cut(listen[leader], ":")
	port, _ := strconv.Atoi(ps)
	elected := time.Now()
	r.GCCycles, err = testnodeSettle(c, leader, settle)
	r.SettleSecs = time.Since(elected).Seconds()
	if err != nil {
		return err
	}
	log.Printf("  baseline %.0f s after the election, %d collections done", r.SettleSecs, r.GCCycles)

	// The baseline: a window of the same length without flood.
	w, err := floodWindow(c, leader, term, pid, port, after, func() (string, error) {
		time.Sleep(time.Duration(secs) * time.Second)
		return "", nil
	})
	w.Name = "no flood (baseline)"
	r.Base = w
	if err != nil {
		return err
	}
	log.Printf("  %s", w.line())
	for _, m := range floodModes {
		w, err := floodWindow(c, leader, term, pid, port, after, func() (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, filepath.Join(env.Bin, "flooder"), "-target", listen[leader], "-mode", m.mode,
				"-duration", strconv.Itoa(secs)+"s", "-rate", strconv.Itoa(rate), "-ca", filepath.Join(env.Certs(), "ca.pem")).Output()
			if err != nil {
				return "", fmt.Errorf("flooder -mode %s: %v: %s", m.mode, err, out)
			}
			return string(out), nil
		})
		w.Mode, w.Name = m.mode, m.name
		r.Modes = append(r.Modes, w)
		if err != nil {
			return err
		}
		log.Printf("  %s", w.line())
	}
	return nil
}

// floodWindow measures one window at the leader around run (the flood, or
// a sleep): heartbeat delays and CPU from testnode's STATS lines (SIGUSR1
// before and after), RSS sampled meanwhile and read again after, and the
// changes any node reported until then.
func floodWindow(c *cluster.Cluster, leader string, term uint64, pid, port int, after time.Duration, run func() (string, error)) (FloodWindow, error) {
	var w FloodWindow
	events := map[string]int{}
	for _, id := range c.IDs() {
		events[id] = len(linesOf(c, id, "EVENT"))
	}
	st0, err := testnodeStats(c, leader)
	if err != nil {
		return w, err
	}
	drops0 := udpDrops(port)
	rss0, _ := cluster.RSSKiB(pid)
	w.RSSBeforeKiB, w.RSSPeakKiB = rss0, rss0
	w.MetaBeforeKiB = runtimeMetaKiB(st0)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v, err := cluster.RSSKiB(pid); err == nil {
				w.RSSPeakKiB = max(w.RSSPeakKiB, v)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond): // sampling period
			}
		}
	}()
	began := time.Now()
	out, err := run()
	close(stop)
	<-sampled
	if err != nil {
		return w, err
	}
	w.Secs = time.Since(began).Seconds()
	if f := cluster.Fields(strings.TrimSpace(out)); out != "" {
		w.Sent, _ = strconv.ParseInt(f["sent"], 10, 64)
		w.Secs = num(f, "secs")
	}
	st1, err := testnodeStats(c, leader)
	if err != nil {
		return w, err
	}
	w.HbN = int(num(st1, "hb_n"))
	w.HbP50, w.HbP99, w.HbMax = num(st1, "hb_p50_us")/1e3, num(st1, "hb_p99_us")/1e3, num(st1, "hb_max_us")/1e3
	w.CPUPct = (num(st1, "cpu_us") - num(st0, "cpu_us")) / float64(time.Since(began).Microseconds()) * 100
	w.Goroutines = int(num(st1, "goroutines"))
	w.Handshakes = uint64(num(st1, "handshake_failed") - num(st0, "handshake_failed"))
	w.Drops = udpDrops(port) - drops0
	w.PeerDrops = int64(num(st1, "sock_drops_peers") - num(st0, "sock_drops_peers"))
	time.Sleep(after) // the RSS after the flood: pacing, the window is the measurement
	w.RSSAfterKiB, _ = cluster.RSSKiB(pid)
	st2, err := testnodeStats(c, leader)
	if err != nil {
		return w, err
	}
	w.MetaAfterKiB = runtimeMetaKiB(st2)
	for _, id := range c.IDs() {
		evs := linesOf(c, id, "EVENT")
		for _, e := range evs[min(events[id], len(evs)):] {
			if e["leader"] != leader {
				w.LeaderChanges++
			}
			if e["term"] != strconv.FormatUint(term, 10) {
				w.TermChanges++
			}
		}
	}
	return w, nil
}

func (w FloodWindow) line() string {
	return fmt.Sprintf("%s: heartbeat delay p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d); leader CPU %.0f%%, %d UDP drops (%d at the peers' socket), RSS %.1f -> peak %.1f -> %.1f MiB %.0f s after (runtime metadata %.1f -> %.1f MiB); %d leader, %d term changes",
		w.Name, w.HbP50, w.HbP99, w.HbMax, w.HbN, w.CPUPct, w.Drops, w.PeerDrops, kib(w.RSSBeforeKiB), kib(w.RSSPeakKiB), kib(w.RSSAfterKiB), floodAfter.Seconds(), kib(w.MetaBeforeKiB), kib(w.MetaAfterKiB), w.LeaderChanges, w.TermChanges)
}

func kib(k int) float64 { return float64(k) / 1024 }

// testnodeStats asks node id for a STATS line (SIGUSR1) and returns it.
func testnodeStats(c *cluster.Cluster, id string) (map[string]string, error) {
	n := len(linesOf(c, id, "STATS"))
	if _, err := c.Signal(id, syscall.SIGUSR1); err != nil {
		return nil, err
	}
	ls, err := waitLines(c, id, "STATS", n, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return ls[n], nil
}

// floodSettleGCs is how many collections the leader completes at rest
// before the baseline. A leader's RSS grows for its first minute or two
// whether flooded or not: its Go heap fills up to the first collection's
// goal (4 MiB; the first came about 30 s after the election), and the first
// collections allocate the runtime's sweep metadata (span sets, GC
// bitmaps: 1.5 -> 2.2 MiB at the first). A leader read 1 s after its
// election held 11.2-11.4 MiB, then without any flood 12.6-13.6 MiB at
// 21 s, 14.0-14.4 at 41 s and 15.2-15.5 at 96 s, 15.6 at 156 s: against
// a baseline read at 1 s, even a leader never flooded was not "back".
const floodSettleGCs = 2

// testnodeSettle waits until node id has completed floodSettleGCs
// collections, at most limit, and returns how many it has.
func testnodeSettle(c *cluster.Cluster, id string, limit time.Duration) (int, error) {
	end := time.Now().Add(limit)
	for {
		st, err := testnodeStats(c, id)
		if err != nil {
			return 0, err
		}
		n := int(num(st, "gc_cycles"))
		if n >= floodSettleGCs || time.Now().After(end) {
			return n, nil
		}
		time.Sleep(time.Second) // polling period
	}
}

// runtimeMetaKiB is the Go runtime's metadata in a testnode STATS line, in
// KiB (0 from a testnode without the fields).
func runtimeMetaKiB(st map[string]string) int {
	var n float64
	for _, k := range []string{"mem_metadata_mcache_free", "mem_metadata_mcache_inuse", "mem_metadata_mspan_free", "mem_metadata_mspan_inuse", "mem_metadata_other"} {
		n += num(st, k)
	}
	return int(n)
}

// testnodeLeader waits until one testnode leads (lead=1) and the others
// follow it in its term, and returns it and the term.
func testnodeLeader(c *cluster.Cluster, timeout time.Duration) (string, uint64, error) {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		last := map[string]map[string]string{}
		leader := ""
		for _, id := range c.IDs() {
			evs := linesOf(c, id, "EVENT")
			if len(evs) == 0 {
				break
			}
			last[id] = evs[len(evs)-1]
			if last[id]["lead"] == "1" {
				leader = id
			}
		}
		if leader != "" && len(last) == len(c.IDs()) {
			agree := true
			for _, id := range c.IDs() {
				if last[id]["leader"] != leader || last[id]["term"] != last[leader]["term"] {
					agree = false
				}
			}
			if agree {
				t, _ := strconv.ParseUint(last[leader]["term"], 10, 64)
				return leader, t, nil
			}
		}
		time.Sleep(10 * time.Millisecond) // polling period
	}
	return "", 0, fmt.Errorf("flood: no leader all three agree on within %s", timeout)
}

// udpDrops sums the drops column of /proc/net/udp over the sockets bound to
// the local port: datagrams the kernel discarded because the socket's
// receive buffer was full.
func udpDrops(port int) int64 {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0
	}
	suffix := fmt.Sprintf(":%04X", port)
	var n int64
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 13 || !strings.HasSuffix(f[1], suffix) {
			continue
		}
		d, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		n += d
	}
	return n
}
