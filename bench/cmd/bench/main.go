// Command bench measures graft the way its users judge it, and compares it
// with nats-io/graft and hashicorp/raft in the same run: failover after
// SIGKILL of the leader, handover, disruption by a returning node, idle
// cost, time to the first leader, memory, and the API cost figures printed
// by the bindings' own benchmarks. Every node is a separate process on
// loopback (graft: cmd/graftnode over QUIC; nats-io/graft: cmd/natsnode via
// cmd/natsserver; hashicorp/raft: cmd/hraftnode over TCP). It prints a
// Markdown table, and writes the raw figures (results.json), the table
// (results.md) and PNG charts into -out.
//
// Run it with `make bench`, or from the bench folder:
//
//	go run ./cmd/bench -trials 50 -out ../docs/bench
//
// Times are host CLOCK_MONOTONIC: the harness reads it just before it
// signals a node, the node stamps its EVENT lines with it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graftlib/graft/bench/internal/testbed"
	"github.com/graftlib/graft/election"
)

var (
	trials        = flag.Int("trials", 50, "failover trials per cluster size (graft, default timings)")
	sizesFlag     = flag.String("sizes", "3,5,7", "cluster sizes for the failover trials")
	hoTrials      = flag.Int("handover-trials", 20, "handover trials (step-down and close each)")
	pairTrials    = flag.Int("pair-trials", 50, "trials killing the leader and its first successor together, per cluster size of 5 or more nodes (graft, default timings)")
	cmpTrials     = flag.Int("cmp-trials", 150, "failover trials per library in the comparison (the libraries' trials interleaved; at 50 the ratios' intervals were ±0.06 wide and straddled issue 16's goals)")
	cmpIdle       = flag.Duration("cmp-idle", 30*time.Second, "measuring window of the comparison's idle cost (the three libraries' clusters run in it together)")
	cmpHoTrials   = flag.Int("cmp-handover-trials", 8, "handover trials per library and kind in the comparison")
	disruptTrials = flag.Int("disrupt-trials", 3, "partition trials shorter than the transport's idle timeout")
	disruptLong   = flag.Int("disrupt-long-trials", 1, "partition trials longer than the transport's idle timeout (3 s)")
	idleDur       = flag.Duration("idle", 6*time.Second, "measuring window of each idle-cost run")
	firstTrials   = flag.Int("first-trials", 5, "cold starts of three nodes for the time to the first leader")
	out           = flag.String("out", "../docs/bench", "folder for results.json, results.md and the charts")
	worker        = flag.String("worker", "../build/leader_worker", "the C leader_worker (memory row); \"\" skips it")
	root          = flag.String("root", "..", "the graft repository, for make bench-c/bench-python/bench-rust")
	api           = flag.Bool("api", true, "run make bench-c, bench-python, bench-rust when the targets exist")
	only          = flag.String("only", "", "comma-separated sections to run (failover,handover,disruption,idle,first,memory,compare,api,events,run,flood); empty: all")
	goTool        = flag.String("go", "go", "the go command, to build the node programs")
	quietFlag     = flag.Duration("quiet", 150*time.Millisecond, "a leader is stable once nothing happened for this long")
	settleFlag    = flag.Duration("settle", 3500*time.Millisecond, "after restarting a node, wait this long before the next trial on its cluster (longer than graft's 3 s QUIC idle timeout)")
	bedsFlag      = flag.Int("beds", 3, "identical clusters the failover and handover trials rotate over, so that one settles while the others are measured")
	freshTrials   = flag.Int("fresh-trials", 20, "extra 3-node failover trials with no settle time after the restart (a peer restarted 0.25 s before the kill)")
	graftBin      = flag.String("graft", "../build/graft", "the graft command (run section; make graft builds it)")
	runTrialsN    = flag.Int("run-trials", 40, "leader faults of cmd/graft's TestRun_Trials (run section; 0: none)")
	runHandovers  = flag.Int("run-handovers", 20, "handovers between `graft run` processes for the lease-to-child-start delay")
	runRest       = flag.Duration("run-rest", 30*time.Second, "window at rest of the `graft run` processes, and of the library node beside them")
	eventsTrialsN = flag.Int("events-trials", 30, "leases run out at their deadline, per language (events section)")
	python        = flag.String("python", "/usr/bin/python3", "the Python of the events section's probe")
	floodSecs     = flag.Int("flood-secs", 5, "seconds of each flood mode (flood section)")
	floodRate     = flag.Int("flood-rate", 0, "packets (or handshakes) per second of the flooder; 0: full speed")
	floodBefore   = flag.String("flood-before", "201f123", "the commit before issue 18's first fix, whose node program the flood section measures too (\"\": not)")
	floodAfter    = flag.Duration("flood-after", 5*time.Second, "when after each flood the leader's RSS is read again")
	floodSettle   = flag.Duration("flood-settle", 150*time.Second, "the longest wait, after the election, for the leader to complete its first collections at rest before the baseline")
	render        = flag.Bool("render", false, "only redraw results.md and the charts from -out/results.json")
	keep          = flag.Bool("keep", false, "keep the work folder (node logs: nodes.log)")
)

// cmpTiming is nats-io/graft's fixed timing, used for the comparison.
var cmpTiming = testbed.Timing{Heartbeat: 100, ElectionMin: 500, ElectionMax: 1000}

func want(section string) bool {
	if *only == "" {
		return true
	}
	for _, s := range strings.Split(*only, ",") {
		if strings.TrimSpace(s) == section {
			return true
		}
	}
	return false
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench: ")
	quiet = *quietFlag
	settle = *settleFlag
	start := time.Now()
	if *render {
		b, err := os.ReadFile(filepath.Join(*out, "results.json"))
		if err != nil {
			log.Fatal(err)
		}
		var res Results
		if err := json.Unmarshal(b, &res); err != nil {
			log.Fatal(err)
		}
		write(&res, false)
		return
	}

	// Read the previous results first: a run with -only keeps its other
	// sections (merge.go), and an unreadable file should stop the run
	// before it measures, not after.
	old, err := readOld(filepath.Join(*out, "results.json"))
	if err == nil && old != nil {
		err = json.Unmarshal(old, &Results{})
	}
	if err != nil {
		log.Fatalf("previous results: %v (move it away to start afresh)", err)
	}
	work, err := os.MkdirTemp("", "graft-bench-")
	if err != nil {
		log.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(work, "nodes.log"))
	if err != nil {
		log.Fatal(err)
	}
	defer logFile.Close()
	cleanup := func() {
		if *keep {
			log.Printf("kept %s", work)
			return
		}
		os.RemoveAll(work)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		log.Printf("interrupted; node processes die with the harness (PDEATHSIG)")
		cleanup()
		os.Exit(1)
	}()

	w := *worker
	if w != "" {
		if abs, err := filepath.Abs(w); err == nil {
			w = abs
		}
		if _, err := os.Stat(w); err != nil {
			log.Printf("no C worker at %s: the C memory row is not measured", w)
			w = ""
		}
	}
	log.Printf("building the node programs (work folder %s)", work)
	env, err := testbed.NewEnv(*goTool, work, w, logFile)
	if err != nil {
		log.Fatal(err)
	}
	res := &Results{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Host:    host(),
		Default: testbed.Timing{Heartbeat: int(election.DefaultHeartbeat.Milliseconds()), ElectionMin: int(election.DefaultElectionMin.Milliseconds()), ElectionMax: int(election.DefaultElectionMax.Milliseconds())},
		Compare: Compare{Timing: cmpTiming, HRaftSettings: "HeartbeatTimeout = ElectionTimeout = LeaderLeaseTimeout = 500 ms: a follower campaigns after [500, 1000] ms without contact, a candidate retries after [500, 1000] ms; heartbeats every [50, 100] ms (HeartbeatTimeout/10, randomised, not configurable). Pre-vote on (the v1.8.0 default)."},
		Flags:   flags(),
	}
	res.Graft, res.GraftDirty = graftTree(*root)
	run(env, res)
	res.RunSeconds = time.Since(start).Seconds()
	res.Host.LoadEnd = loadAvg()

	if res, err = mergeResults(res, old); err != nil {
		log.Fatal(err)
	}
	write(res, true)
	cleanup()
}

// write saves results.json (when js is set), the charts and results.md,
// and prints the table.
func write(res *Results, js bool) {
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	if js {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(filepath.Join(*out, "results.json"), append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	charts, err := drawCharts(res, *out)
	if err != nil {
		log.Printf("charts: %v", err)
	}
	md := table(res, charts)
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(md)
	log.Printf("run took %.0f s; wrote %s", res.RunSeconds, *out)
}

func run(env *testbed.Env, res *Results) {
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("bad -sizes %q", *sizesFlag)
		}
		sizes = append(sizes, n)
	}
	zero := testbed.Timing{}

	// Failover at the default timings, and on the 3-node clusters handover.
	for _, n := range sizes {
		if !want("failover") && !(n == 3 && want("handover")) {
			continue
		}
		beds, err := startBeds(*bedsFlag, func() (*testbed.Bed, error) { return env.Graft(n, zero, false, testbed.Options{Ranks: true}) })
		if err != nil {
			log.Fatal(err)
		}
		if want("failover") {
			if n >= 5 && *pairTrials > 0 {
				log.Printf("graft failover, %d nodes, %d trials killing the leader and %d killing it with its first successor, interleaved, over %d clusters", n, *trials, *pairTrials, len(beds))
				single, pair := failoverWithPairs(beds, *trials, *pairTrials)
				res.Failover = append(res.Failover, summarizeFailover(single))
				res.FailoverPair = append(res.FailoverPair, summarizeFailover(pair))
				log.Printf("  %s", res.Failover[len(res.Failover)-1].line())
				log.Printf("  pair: %s", res.FailoverPair[len(res.FailoverPair)-1].line())
			} else {
				log.Printf("graft failover, %d nodes, %d trials over %d clusters", n, *trials, len(beds))
				res.Failover = append(res.Failover, summarizeFailover(failover(beds, *trials, 1)))
				log.Printf("  %s", res.Failover[len(res.Failover)-1].line())
			}
			if n == 3 && *freshTrials > 0 {
				log.Printf("graft failover, 3 nodes, no settle time after restarts, %d trials on one cluster", *freshTrials)
				s := settle
				settle = 0
				res.FailoverFresh = append(res.FailoverFresh, summarizeFailover(failover(beds[:1], *freshTrials, 1)))
				settle = s
				log.Printf("  %s", res.FailoverFresh[0].line())
			}
		}
		if n == 3 && want("handover") {
			for _, how := range []string{"step_down", "close"} {
				log.Printf("graft handover (%s), %d trials", how, *hoTrials)
				h := summarizeHandover(handover(beds, how, *hoTrials))
				res.Handover = append(res.Handover, h)
				log.Printf("  %s", h.line())
			}
		}
		closeBeds(beds)
	}

	if want("disruption") {
		b, err := env.Graft(3, zero, false, testbed.Options{Relay: true})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := b.StartAll(); err != nil {
			log.Fatal(err)
		}
		emax := time.Duration(res.Default.ElectionMax) * time.Millisecond
		log.Printf("graft disruption: %d partitions of 5 x ElectionMax, %d of 8 s", *disruptTrials, *disruptLong)
		if *disruptTrials > 0 {
			res.Disruption = append(res.Disruption, disruption(b, *disruptTrials, 5*emax, 4*emax))
		}
		if *disruptLong > 0 {
			res.Disruption = append(res.Disruption, disruption(b, *disruptLong, 8*time.Second, 4*emax))
		}
		for _, d := range res.Disruption {
			log.Printf("  partition %.0f ms: %d trials, %d leader changes, %d with a term change", d.PartitionMs, d.Trials, d.LeaderChanges, d.TermChanges)
		}
		b.Close()
	}

	if want("idle") || want("memory") {
		for _, n := range []int{3, 5} {
			b, err := env.Graft(n, zero, false, testbed.Options{Relay: true})
			if err != nil {
				log.Fatal(err)
			}
			log.Printf("graft idle cost, %d nodes, %s", n, *idleDur)
			r, err := idle(b, *idleDur)
			b.Close()
			if err != nil {
				log.Printf("  %v", err)
				continue
			}
			res.Idle = append(res.Idle, r)
			log.Printf("  %s", r.line())
		}
	}

	if want("memory") && env.Worker != "" {
		b, err := env.Graft(3, zero, true, testbed.Options{Relay: true})
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("C leader_worker idle cost and memory, 3 nodes, %s", *idleDur/2)
		r, err := idle(b, *idleDur/2)
		b.Close()
		if err != nil {
			log.Printf("  %v", err)
		} else {
			res.Idle = append(res.Idle, r)
			log.Printf("  %s", r.line())
		}
	}

	if want("first") {
		log.Printf("graft time to first leader, 3 nodes, %d cold starts", *firstTrials)
		s, err := firstLeader(func() (*testbed.Bed, error) { return env.Graft(3, zero, false, testbed.Options{}) }, *firstTrials)
		if err != nil {
			log.Printf("  %v", err)
		}
		res.FirstLeader = FirstLeader{Lib: testbed.Graft, Nodes: 3, SamplesMs: s}
		res.FirstLeader.Summary = summarize(s)
		log.Printf("  median %.1f ms, max %.1f ms", res.FirstLeader.Summary.Median, res.FirstLeader.Summary.Max)
	}

	if want("compare") {
		compare(env, res)
	}

	if want("events") {
		ev := eventsSection(env, *root, *python, *eventsTrialsN)
		res.Events = &ev
	}

	if want("run") {
		g := *graftBin
		if abs, err := filepath.Abs(g); err == nil {
			g = abs
		}
		rr := runSection(env, *root, *goTool, g, *runTrialsN, *runHandovers, *runRest)
		res.Run = &rr
	}

	if want("flood") {
		log.Printf("flood: a stranger floods the leader of 3 testnode processes, %d s per mode", *floodSecs)
		f := flood(env, *root, *goTool, *floodBefore, *floodSecs, *floodRate, *floodAfter, *floodSettle)
		res.Flood = &f
	}

	if want("api") && *api {
		res.API = apiCost(*root)
	}
}

// startBeds makes and starts k clusters with mk.
func startBeds(k int, mk func() (*testbed.Bed, error)) ([]*testbed.Bed, error) {
	var beds []*testbed.Bed
	for i := 0; i < max(k, 1); i++ {
		b, err := mk()
		if err == nil {
			_, err = b.StartAll()
		}
		if err != nil {
			closeBeds(beds)
			return nil, err
		}
		beds = append(beds, b)
	}
	return beds, nil
}

func closeBeds(beds []*testbed.Bed) {
	for _, b := range beds {
		b.Close()
	}
}

// graftTree describes the graft tree the node programs were built from.
func graftTree(root string) (string, []string) {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown", nil
	}
	var dirty []string
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(st)), "\n") {
			f := strings.TrimSpace(line)
			if len(f) > 3 {
				f = strings.TrimSpace(f[2:])
			}
			if f != "" && !strings.HasPrefix(f, "bench/") && !strings.HasPrefix(f, "docs/bench/") {
				dirty = append(dirty, f)
			}
		}
	}
	return strings.TrimSpace(string(out)), dirty
}

func host() Host {
	h := Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				h.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return h
}

func flags() map[string]string {
	m := map[string]string{}
	flag.VisitAll(func(f *flag.Flag) { m[f.Name] = f.Value.String() })
	return m
}
