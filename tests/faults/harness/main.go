// Command harness runs graft's fault-injection schedules: real node
// processes (tests/faults/node.c over libgraft.so), each in its own network
// namespace, with partitions, one-way partitions, leader isolation, packet
// loss, delay and reordering, SIGKILL and restart, SIGSTOP pauses longer
// than the lease, and clock skew, then checks what the nodes believed with
// tests/faults/checker. Needs root. `make test-faults` runs it.
//
//	harness -node build/test/faults-node [-schedules 30] [-seed S] [-nocq | -hooks ignored|honoured] [-dir DIR]
//
// Schedule k runs with seed S+k; everything about it (3 or 5 nodes, the
// faults, their order, lengths and random choices) comes from that seed,
// so `-schedules 1 -seed S+k` replays it (who happens to lead when a fault
// strikes may differ). With -nocq the nodes run with check-quorum disabled
// (GRAFT_TEST_DISABLE_CHECK_QUORUM=1) through a leader isolation, and the
// harness passes only if the checker reports overlapping leaders in every
// schedule: it proves that the checker can fail. With -hooks the nodes run
// with both test variables set through a leader isolation, and the run
// must show the library ignored them (the released build) or honoured
// them (the test build): see hooks.go.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/graftlib/graft/tests/faults/checker"
)

var (
	curMu sync.Mutex
	cur   *cluster
	// timerSlack is how late a lease loss due at its deadline may be
	// queued (-timer-slack; checker.Params.TimerSlack).
	timerSlack = checker.DefaultTimerSlack
)

func setCurrent(c *cluster) {
	curMu.Lock()
	cur = c
	curMu.Unlock()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "faults: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	nodeBin := flag.String("node", "build/faults-node", "the node program (tests/faults/node.c)")
	graftBin := flag.String("graft", "", "graft-run mode: run this graft binary (graft run) in each namespace instead of -node")
	childBin := flag.String("child", "", "graft-run mode: the command graft runs (tests/faults/child.c)")
	schedules := flag.Int("schedules", 30, "number of schedules")
	seed := flag.Uint64("seed", 0, "seed of the first schedule (0: from the time)")
	nocq := flag.Bool("nocq", false, "disable check-quorum and require the checker to report overlaps")
	only := flag.String("kinds", "", "the fault kinds to draw from, comma-separated (default: every kind of the mode)")
	hooks := flag.String("hooks", "", "ignored|honoured: set both GRAFT_TEST_* variables, isolate the leader, require the library to have ignored or honoured them")
	dir := flag.String("dir", "/tmp/graft-faults", "work directory (logs of failed schedules are kept here)")
	replay := flag.String("replay", "make test-faults", "the command printed to replay a schedule")
	flag.DurationVar(&timerSlack, "timer-slack", timerSlack, "how late a lease loss due at its deadline may be queued for its callback")
	flag.Parse()

	if err := needs(); err != nil {
		fatalf("%v", err)
	}
	bin, err := filepath.Abs(*nodeBin)
	if err != nil {
		fatalf("%v", err)
	}
	var graft *runMode
	modeKinds := kinds
	if *graftBin != "" {
		if *nocq || *hooks != "" {
			fatalf("-graft: not with -nocq or -hooks (graft has no test hooks)")
		}
		g, err1 := filepath.Abs(*graftBin)
		c, err2 := filepath.Abs(*childBin)
		if err1 != nil || err2 != nil || *childBin == "" {
			fatalf("-graft needs -child (tests/faults/child.c)")
		}
		graft, bin, modeKinds = newRunMode(g, c), g, runKinds
		if _, err := os.Stat(c); err != nil {
			fatalf("child program: %v", err)
		}
	}
	if _, err := os.Stat(bin); err != nil {
		fatalf("node program: %v (make build/faults-node, or make graft for -graft)", err)
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano()%1_000_000_000) + 1
	}
	mode := "check-quorum on"
	switch {
	case *nocq:
		mode = "check-quorum DISABLED (must report overlaps)"
	case *hooks == "ignored" || *hooks == "honoured":
		mode = fmt.Sprintf("GRAFT_TEST_DISABLE_CHECK_QUORUM=1 GRAFT_TEST_CLOCK_RATE=%s set, library must have %s them", hooksRate, *hooks)
	case *hooks != "":
		fatalf("-hooks: want ignored or honoured, not %q", *hooks)
	}
	if graft != nil {
		mode = "graft run: the commands' own lifetimes"
	}
	fmt.Printf("faults: %d schedules from seed %d, %s; timings heartbeat %dms, election %d-%dms\n",
		*schedules, *seed, mode, heartbeatMS, electionMinMS, electionMaxMS)

	os.RemoveAll(*dir)
	certs := filepath.Join(*dir, "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		fatalf("%v", err)
	}
	gen := []string{"gencerts", certs}
	if graft != nil {
		gen = []string{"certs", certs}
	}
	for i := 1; i <= maxNodes; i++ {
		gen = append(gen, fmt.Sprintf("n%d", i))
	}
	if err := run(bin, gen...); err != nil {
		fatalf("certificates: %v", err)
	}

	// Leftovers of a crashed run go first; ours go on every exit path.
	if err := setupNetwork(); err != nil {
		cleanupNetwork()
		fatalf("%v", err)
	}
	relay, err := NewRelay(maxNodes)
	if err != nil {
		cleanupNetwork()
		fatalf("%v", err)
	}
	cleanup := func() {
		curMu.Lock()
		c := cur
		curMu.Unlock()
		if c != nil {
			c.stopAll()
		}
		relay.Close()
		cleanupNetwork()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "faults: %v: cleaning up\n", s)
		cleanup()
		os.Exit(130)
	}()
	defer cleanup()

	drawn := modeKinds
	if *only != "" {
		drawn = strings.Split(*only, ",")
	}
	for _, k := range drawn {
		if !slices.Contains(modeKinds, k) {
			fatalf("-kinds: unknown kind %q (known in this mode: %s)", k, strings.Join(modeKinds, ","))
		}
	}
	ok := runAll(*schedules, *seed, *nocq, *hooks, mode, drawn, *dir, certs, bin, graft, relay, *replay)
	if !ok {
		cleanup()
		os.Exit(1)
	}
}

// totals add up the figures of every schedule.
type totals struct {
	faults       map[string]int
	terms        int
	multi        int
	overlaps     int
	maxOverlap   time.Duration
	minHandover  time.Duration
	termErrors   int
	disruptions  int
	all, noLdr   []time.Duration
	outages      []time.Duration
	heals        int
	failed       []uint64
	withOverlaps int
	reLeads      int
	stepDowns    []time.Duration
	longestLease time.Duration
	// the lease events
	events                  int
	eventOverlaps, unpaired int
	lateLosses              int
	maxEventOverlap         time.Duration
	minEventHandover        time.Duration
	late, timer, queue      []time.Duration
	resumedLosses           int
	starvedLosses           int
	withEventOverlaps       int
}

func runAll(n int, seed uint64, nocq bool, hooks, mode string, kinds []string, dir, certs, bin string, graft *runMode, relay *Relay, replay string) bool {
	start := time.Now()
	t := totals{faults: map[string]int{}, minHandover: -1, minEventHandover: -1}
	for k := 0; k < n; k++ {
		s := newSchedule(seed+uint64(k), nocq || hooks != "", kinds, graft != nil)
		sdir := filepath.Join(dir, fmt.Sprint(s.seed))
		t0 := time.Now()
		fmt.Printf("schedule %d/%d %s\n", k+1, n, s)
		_, descs, err := runSchedule(s, sdir, certs, bin, nocq, hooks != "", graft, relay)
		setCurrent(nil)
		for _, d := range descs {
			fmt.Printf("    %s\n", d)
		}
		for _, f := range s.faults {
			t.faults[f.kind]++
		}
		if s.skewNode != 0 {
			t.faults["skew (from the start)"]++
		}
		var failed bool
		var why []string
		var figures string
		if graft != nil {
			failed, why, figures = graft.check(sdir, err)
		} else {
			failed, why, figures = t.check(sdir, err, nocq, hooks)
		}
		status := "ok"
		if failed {
			status = "FAILED"
		}
		fmt.Printf("    %s in %s%s\n", status, time.Since(t0).Round(10*time.Millisecond), figures)
		if failed {
			t.failed = append(t.failed, s.seed)
			for _, w := range why {
				fmt.Printf("    %s\n", w)
			}
			fmt.Printf("    logs: %s\n    replay: %s SEED=%d\n", sdir, replay, s.seed)
		} else {
			os.RemoveAll(sdir)
		}
	}

	fmt.Printf("\nfaults: %d schedules in %s (%s)\n", n, time.Since(start).Round(100*time.Millisecond), mode)
	var ks []string
	for k := range t.faults {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	fmt.Printf("  faults injected:")
	for _, k := range ks {
		fmt.Printf(" %s=%d", k, t.faults[k])
	}
	fmt.Println()
	ok := len(t.failed) == 0
	if graft != nil {
		graft.print()
	} else {
		t.print(nocq, hooks)
	}
	if !ok {
		fmt.Printf("  FAILED schedules (seeds): %v\n", t.failed)
	}
	return ok
}

// check reads a schedule's logs, checks them and adds its figures; err is
// the schedule's own failure, if any. figures is a few words for the
// schedule's status line.
func (t *totals) check(sdir string, err error, nocq bool, hooks string) (failed bool, why []string, figures string) {
	var r *checker.Report
	var run *checker.Run
	if err == nil {
		var rerr error
		run, rerr = checker.ReadDir(sdir)
		if rerr != nil {
			err = rerr
		} else {
			r = checker.Check(run, checker.Params{ElectionMax: electionMax, TimerSlack: timerSlack})
		}
	}
	failed = err != nil
	if err != nil {
		why = append(why, err.Error())
	} else {
		t.terms += len(r.LeadersPerTerm)
		t.multi += len(r.MultiLeader)
		t.overlaps += len(r.Overlaps)
		t.maxOverlap = max(t.maxOverlap, r.MaxOverlap)
		if r.MinHandover >= 0 && (t.minHandover < 0 || r.MinHandover < t.minHandover) {
			t.minHandover = r.MinHandover
		}
		t.termErrors += len(r.TermErrors)
		t.disruptions += len(r.Disruptions)
		t.heals += len(r.Failovers)
		a, l := r.FailoverTimes()
		t.all, t.noLdr = append(t.all, a...), append(t.noLdr, l...)
		t.outages = append(t.outages, r.Outages()...)
		if len(r.Overlaps) > 0 {
			t.withOverlaps++
		}
		t.reLeads += len(r.ReLeads)
		t.stepDowns = append(t.stepDowns, r.StepDowns...)
		t.longestLease = max(t.longestLease, r.LongestLease)
		t.addEvents(r)
		switch {
		case hooks != "":
			ev := hooksEvidence(run, r)
			switch {
			case hooks == "ignored" && len(ev) > 0:
				failed = true
				why = append(why, "the library honoured the GRAFT_TEST_* variables, or the check failed:")
				why = append(why, ev...)
			case hooks == "honoured" && len(ev) == 0:
				failed = true
				why = append(why, "the test build ignored the GRAFT_TEST_* variables: the release check cannot fail")
			case hooks == "honoured":
				fmt.Printf("    the variables took effect: %s\n", strings.Join(ev, "; "))
			}
		case nocq:
			if len(r.Overlaps) == 0 {
				failed = true
				why = append(why, fmt.Sprintf("check-quorum disabled, yet the checker found no overlap (longest %s)", r.MaxOverlap))
			}
			if len(r.EventOverlaps) == 0 {
				failed = true
				why = append(why, fmt.Sprintf("check-quorum disabled, yet the lease events show no overlap (longest %s)", r.MaxEventOverlap))
			}
		default:
			if v := r.Violations(); len(v) > 0 {
				failed = true
				why = append(why, v...)
			}
		}
	}
	if r != nil {
		a, _ := r.FailoverTimes()
		late, _, _ := r.LostStats()
		figures = fmt.Sprintf(": terms with a leader %d, overlaps %d (longest %s), by events %d, rejoin disruptions %d, after heal %s, leaderless %s, losses at the deadline ran %s after it",
			len(r.LeadersPerTerm), len(r.Overlaps), r.MaxOverlap, len(r.EventOverlaps), len(r.Disruptions), checker.Stats(a), checker.Stats(r.Outages()), checker.StatsFine(late))
	}
	return failed, why, figures
}

// print prints the figures of the whole library-mode run.
func (t *totals) print(nocq bool, hooks string) {
	fmt.Printf("  terms with a leader: %d; terms with more than one leader: %d\n", t.terms, t.multi)
	fmt.Printf("  lease overlaps: %d in %d schedules (longest %s); terms led again after a step-down: %d\n", t.overlaps, t.withOverlaps, t.maxOverlap, t.reLeads)
	if !nocq {
		fmt.Printf("  closest handover (one lease's end to the next lease first seen): %s; longest lease %s\n", t.minHandover, t.longestLease)
	}
	t.printEvents(nocq)
	fmt.Printf("  step-downs right after an election (handover mode): %d, time from the election %s\n", len(t.stepDowns), checker.Stats(t.stepDowns))
	fmt.Printf("  term regressions: %d; rejoin disruptions: %d\n", t.termErrors, t.disruptions)
	fmt.Printf("  failover after heal (bound %s): all %d heals %s; the %d with no leader at the heal %s\n",
		10*electionMax, len(t.all), checker.Stats(t.all), len(t.noLdr), checker.Stats(t.noLdr))
	fmt.Printf("  longest time without a leader, per fault that removed it (the failover time): %d faults %s\n",
		len(t.outages), checker.Stats(t.outages))
	if len(t.failed) > 0 {
		return
	}
	switch {
	case nocq:
		fmt.Println("  the checker reported overlapping leaders in every schedule, as it must with check-quorum disabled")
	case hooks == "ignored":
		fmt.Println("  the library ignored the GRAFT_TEST_* variables in every schedule: the isolated leader stepped down")
	case hooks == "honoured":
		fmt.Println("  the test build honoured the GRAFT_TEST_* variables in every schedule: the release check can fail")
	}
}

// addEvents adds a schedule's lease-event figures.
func (t *totals) addEvents(r *checker.Report) {
	t.events += r.LeaseEvents
	t.eventOverlaps += len(r.EventOverlaps)
	if len(r.EventOverlaps) > 0 {
		t.withEventOverlaps++
	}
	t.unpaired += len(r.Unpaired)
	t.lateLosses += len(r.LateLosses)
	t.maxEventOverlap = max(t.maxEventOverlap, r.MaxEventOverlap)
	if r.MinEventHandover >= 0 && (t.minEventHandover < 0 || r.MinEventHandover < t.minEventHandover) {
		t.minEventHandover = r.MinEventHandover
	}
	late, timer, queue := r.LostStats()
	t.late, t.timer, t.queue = append(t.late, late...), append(t.timer, timer...), append(t.queue, queue...)
	for _, d := range r.LostDelays {
		if d.Resumed {
			t.resumedLosses++
		}
		if d.Starved {
			t.starvedLosses++
		}
	}
}

// printEvents prints the lease-event figures of the whole run.
func (t *totals) printEvents(nocq bool) {
	fmt.Printf("  lease events: %d; overlaps by events: %d in %d schedules (longest %s); unpaired: %d\n",
		t.events, t.eventOverlaps, t.withEventOverlaps, t.maxEventOverlap, t.unpaired)
	if !nocq {
		fmt.Printf("  closest handover by events (one node's loss or deadline to another's acquired): %s\n", t.minEventHandover)
	}
	fmt.Printf("  losses due at the deadline: %d (%d at a resume from SIGSTOP, %d of a process that ran > 1 ms after the deadline: counted from then);\n"+
		"    ran after it %s; timer %s; callback queue %s; queued more than %s late: %d\n",
		len(t.late), t.resumedLosses, t.starvedLosses, checker.StatsFine(t.late), checker.StatsFine(t.timer), checker.StatsFine(t.queue),
		timerSlack, t.lateLosses)
}
