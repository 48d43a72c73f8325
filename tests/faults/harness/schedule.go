package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Fault kinds. The checker's rejoin rule applies to the heals of
// partition, oneway, isolate, kill, pause and skew. handover is handover
// mode alone (see fault.handover), half of the time with jittered links.
var kinds = []string{"partition", "oneway", "isolate", "loss", "delay", "kill", "pause", "skew", "handover"}

// fault is one step of a schedule: inject, hold, heal, settle. Choices
// that depend on the run (who leads) are made when it runs, with rng
// draws fixed by the schedule's seed.
type fault struct {
	kind string
	hold time.Duration
	pick uint64 // seeds the fault's own choices
	// handover: while the fault is held, every node steps down right
	// after each election it wins (at once, i.e. at the first heartbeat
	// acknowledgement, or within two heartbeats), so leadership moves
	// again and again while votes of the last candidacy may still be in
	// flight (issue 12, F1). Switched off ElectionMax before the heal.
	handover bool
}

type schedule struct {
	seed     uint64
	n        int
	skewNode int    // a node started with a skewed clock, 0 for none
	skewRate string // its GRAFT_TEST_CLOCK_RATE
	faults   []fault
	// ignoreTerm (graft-run mode): the commands ignore SIGTERM.
	ignoreTerm bool
}

// skewRates are within the default MaxClockDrift (0.01).
var skewRates = []string{"0.991", "1.009"}

// newSchedule derives a whole schedule from its seed: even seeds run 3
// nodes, odd seeds 5. With nocq the schedule is one leader isolation (the
// fault that must produce two leaders without check-quorum). In the
// graft-run mode (graftRun) no node starts skewed, and half of the
// schedules have commands that ignore SIGTERM.
func newSchedule(seed uint64, nocq bool, kinds []string, graftRun bool) schedule {
	rng := rand.New(rand.NewPCG(seed, 0x6772616674))
	s := schedule{seed: seed, n: 3}
	if seed%2 == 1 {
		s.n = 5
	}
	if nocq {
		s.faults = []fault{{kind: "isolate", hold: 800 * time.Millisecond, pick: rng.Uint64()}}
		return s
	}
	if rng.IntN(3) == 0 && !graftRun {
		s.skewNode, s.skewRate = 1+rng.IntN(s.n), skewRates[rng.IntN(2)]
	}
	for k := 2 + rng.IntN(3); k > 0; k-- {
		f := fault{kind: kinds[rng.IntN(len(kinds))], hold: time.Duration(300+rng.IntN(900)) * time.Millisecond, pick: rng.Uint64()}
		f.handover = f.kind == "handover" || rng.IntN(3) == 0
		if f.kind == "pause" {
			// Longer than the lease (ElectionMin), up to several.
			f.hold = time.Duration(200+rng.IntN(600)) * time.Millisecond
		}
		if f.kind == "skew" {
			f.hold = 100 * time.Millisecond // down between the kill and the skewed restart
		}
		s.faults = append(s.faults, f)
	}
	s.ignoreTerm = graftRun && rng.IntN(2) == 0
	return s
}

func (s schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d nodes=%d", s.seed, s.n)
	if s.skewNode != 0 {
		fmt.Fprintf(&b, " skew=n%d@%s", s.skewNode, s.skewRate)
	}
	if s.ignoreTerm {
		b.WriteString(" commands-ignore-SIGTERM")
	}
	for _, f := range s.faults {
		fmt.Fprintf(&b, " %s/%s", f.kind, f.hold)
		if f.handover && f.kind != "handover" {
			b.WriteString("+handover")
		}
	}
	return b.String()
}

// runFault injects f (the k-th), holds it, heals it, and lets the cluster
// settle. It returns a description of what it did.
func (c *cluster) runFault(k int, f fault, relay *Relay) (string, error) {
	rng := rand.New(rand.NewPCG(f.pick, uint64(k)))
	ldr, hasLeader := c.leader()
	target := func(leaderOdds int) (int, string) {
		if hasLeader && rng.IntN(100) < leaderOdds {
			return ldr, fmt.Sprintf("n%d (leader)", ldr)
		}
		i := 1 + rng.IntN(c.n)
		if i == ldr && hasLeader {
			return i, fmt.Sprintf("n%d (leader)", i)
		}
		return i, fmt.Sprintf("n%d", i)
	}
	others := func(set []int) []int {
		var o []int
		for i := 1; i <= c.n; i++ {
			if !slices.Contains(set, i) {
				o = append(o, i)
			}
		}
		return o
	}
	cut := func(minority []int) error {
		for _, a := range minority {
			for _, b := range others(minority) {
				if err := dropFrom(a, b); err != nil {
					return err
				}
				if err := dropTo(a, b); err != nil {
					return err
				}
			}
		}
		return nil
	}
	healNet := func() error {
		for i := 1; i <= c.n; i++ {
			if err := heal(i); err != nil {
				return err
			}
		}
		return nil
	}
	names := func(set []int) string {
		var s []string
		for _, i := range set {
			s = append(s, fmt.Sprintf("n%d", i))
		}
		return strings.Join(s, ",")
	}

	var desc string
	var inject, undo func() error
	switch f.kind {
	case "partition":
		perm := rng.Perm(c.n)
		m := 1 + rng.IntN((c.n-1)/2)
		var minority []int
		for _, p := range perm[:m] {
			minority = append(minority, p+1)
		}
		slices.Sort(minority)
		desc = fmt.Sprintf("%s | %s", names(minority), names(others(minority)))
		if hasLeader {
			desc += fmt.Sprintf(" (leader n%d)", ldr)
		}
		inject, undo = func() error { return cut(minority) }, healNet
	case "isolate":
		minority := []int{}
		if hasLeader {
			minority = append(minority, ldr)
			desc = fmt.Sprintf("leader n%d", ldr)
		} else {
			minority = append(minority, 1+rng.IntN(c.n))
			desc = fmt.Sprintf("no leader; n%d", minority[0])
		}
		if c.n == 5 && rng.IntN(2) == 0 {
			o := others(minority)
			minority = append(minority, o[rng.IntN(len(o))])
			desc += fmt.Sprintf(" with n%d", minority[1])
		}
		desc += " cut off from the majority"
		inject, undo = func() error { return cut(minority) }, healNet
	case "oneway":
		x, xs := target(50)
		switch rng.IntN(3) {
		case 0:
			desc = xs + " deaf: hears nobody, is heard"
			inject = func() error {
				for _, o := range others([]int{x}) {
					if err := dropFrom(x, o); err != nil {
						return err
					}
				}
				return nil
			}
		case 1:
			desc = xs + " mute: heard by nobody, hears all"
			inject = func() error {
				for _, o := range others([]int{x}) {
					if err := dropTo(x, o); err != nil {
						return err
					}
				}
				return nil
			}
		default:
			o := others([]int{x})
			y := o[rng.IntN(len(o))]
			desc = fmt.Sprintf("link %s -> n%d dropped", xs, y)
			inject = func() error { return dropTo(x, y) }
		}
		undo = healNet
	case "loss":
		p := 0.1 + 0.3*rng.Float64()
		desc = fmt.Sprintf("%.0f%% of packets into every node dropped", 100*p)
		inject = func() error {
			for i := 1; i <= c.n; i++ {
				if err := loss(i, p); err != nil {
					return err
				}
			}
			return nil
		}
		undo = healNet
	case "delay":
		base := time.Duration(2+rng.IntN(18)) * time.Millisecond
		jitter := time.Duration(rng.IntN(26)) * time.Millisecond
		desc = fmt.Sprintf("every link delayed %s + [0, %s) (reordering)", base, jitter)
		inject = func() error { relay.SetDelay(base, jitter); return nil }
		undo = func() error { relay.SetDelay(0, 0); return nil }
	case "kill":
		x, xs := target(50)
		desc = "SIGKILL " + xs + ", restart from its state file"
		inject, undo = func() error { return c.kill(x) }, func() error { return c.start(x) }
	case "pause":
		x, xs := target(67)
		desc = fmt.Sprintf("SIGSTOP %s for %s (lease %dms)", xs, f.hold, electionMinMS)
		inject = func() error { return c.signal(x, syscall.SIGSTOP) }
		undo = func() error { return c.signal(x, syscall.SIGCONT) }
	case "term":
		x, xs := target(80)
		desc = "SIGTERM " + xs + " (graft stops its command, hands over, exits), started again at the heal"
		inject, undo = func() error { return c.terminate(x) }, func() error { return c.start(x) }
	case "skew":
		x, xs := target(50)
		rate := skewRates[rng.IntN(2)]
		desc = fmt.Sprintf("restart %s with its clock at rate %s", xs, rate)
		inject = func() error { return c.kill(x) }
		undo = func() error {
			c.rates[x] = rate
			return c.start(x)
		}
	case "handover":
		desc = "every new leader steps down at once or within two heartbeats"
		inject, undo = func() error { return nil }, func() error { return nil }
		if rng.IntN(2) == 0 {
			base := time.Duration(rng.IntN(3)) * time.Millisecond
			jitter := time.Duration(1+rng.IntN(10)) * time.Millisecond
			desc += fmt.Sprintf(", links delayed %s + [0, %s)", base, jitter)
			inject = func() error { relay.SetDelay(base, jitter); return nil }
			undo = func() error { relay.SetDelay(0, 0); return nil }
		}
	default:
		return "", fmt.Errorf("unknown fault kind %q", f.kind)
	}
	if f.handover && f.kind != "handover" {
		desc += "; handover mode on"
	}
	if c.run != nil && f.handover {
		desc += " (each command exits 0-40 ms after it starts: graft hands over)"
	}

	c.event("FAULT", "n=%d kind=%s desc=%s", k, f.kind, desc)
	if err := inject(); err != nil {
		return desc, err
	}
	if f.handover {
		if err := c.setHandover(true); err != nil {
			return desc, err
		}
	}
	time.Sleep(f.hold)
	if f.handover {
		// Off before the heal, and the last handover done with, so that
		// the checker's heal rules see the fault alone.
		if err := c.setHandover(false); err != nil {
			return desc, err
		}
		time.Sleep(electionMax)
	}
	if err := undo(); err != nil {
		return desc, err
	}
	c.event("HEAL", "n=%d kind=%s", k, f.kind)
	// Settle: at least the checker's rejoin window (5 × ElectionMax), then
	// until a leader holds a lease, at most the failover bound.
	time.Sleep(5 * electionMax)
	c.waitLeader(10 * electionMax)
	return desc, nil
}

// runSchedule runs s in dir and returns what each fault did.
func runSchedule(s schedule, dir, certs, nodeBin string, nocq, hooks bool, run *runMode, relay *Relay) (c *cluster, descs []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	ev, err := os.Create(dir + "/events.log")
	if err != nil {
		return nil, nil, err
	}
	c = &cluster{n: s.n, dir: dir, certs: certs, nodeBin: nodeBin, nocq: nocq, hooks: hooks, events: ev,
		procs: map[int]*exec.Cmd{}, rates: map[int]string{}, run: run, ignoreTerm: s.ignoreTerm}
	setCurrent(c)
	defer ev.Close()
	relay.SetDelay(0, 0)
	for i := 1; i <= maxNodes; i++ {
		if err := heal(i); err != nil {
			return c, nil, err
		}
	}
	if s.skewNode != 0 {
		c.rates[s.skewNode] = s.skewRate
	}
	c.event("BEGIN", "seed=%d nodes=%d", s.seed, s.n)
	defer func() {
		c.event("END", "")
		c.stopAll()
		for i := 1; i <= maxNodes; i++ {
			heal(i)
		}
	}()
	for i := 1; i <= s.n; i++ {
		if err := c.start(i); err != nil {
			return c, nil, err
		}
	}
	if _, ok := c.waitLeader(5 * time.Second); !ok {
		return c, nil, fmt.Errorf("no leader within 5s of the start")
	}
	for k, f := range s.faults {
		d, err := c.runFault(k+1, f, relay)
		descs = append(descs, f.kind+": "+d)
		if err != nil {
			return c, descs, fmt.Errorf("fault %d (%s): %w", k+1, f.kind, err)
		}
	}
	return c, descs, nil
}
