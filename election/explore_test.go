package election

// The explorer: a model checker over the real core. Where the simulator
// (sim_test.go) draws random schedules, the explorer enumerates every
// schedule of a small cluster within bounds and checks the invariants of
// invariants_test.go (the same code the simulator runs) after every step.
//
// A state is the whole cluster: for each node its *raft as newRaft built it
// (copied at every choice, never a model of it), its process clock, its
// storage with every vote it ever saved, and what the invariants remember
// of it; the messages in flight; real time. The choices
// (explore_choice_test.go): deliver a message in flight, deliver it and
// keep a duplicate, fire a due timer, let time pass to the next instant at
// which some timing condition changes (a timer, a refusal window, a lease,
// a stamp), crash a node, start a crashed node again with a fresh process
// clock that reads 0 like SystemClock's (so its heartbeat stamps repeat the
// values of its previous life), StepDown on a leader, Close on a leader
// (hand over, then stop), pause a node's process for ElectionMax (it
// handles nothing, its messages wait, it still believes it leads), and cut
// every link from a node for ElectionMax (what it sends is lost: an
// asymmetric partition). Losing a message is offered only when the network
// is nearly full, to make room: a message never delivered is as good as
// lost. Each node's clock runs at 1-ρ or 1+ρ of real time (ρ =
// -explore.drift); every mix of fast and slow nodes is a start state.
//
// The core's randomness draws the lowest value of every range (lowSource)
// and a due timer may fire at any later instant the search stops at, which
// covers every draw: a longer timeout is a late timer.
//
// States are deduplicated by a hash of a canonical encoding
// (explore_encode_test.go): times relative to now and to the microsecond,
// values clamped where their size no longer matters, and with
// -explore.symmetry the least encoding over every renaming of the nodes
// (off by default: the core breaks a few ties by name, so a renamed state
// is not always equivalent). The search (explore_search_test.go) deepens
// iteratively, GOMAXPROCS workers sharing the states seen, so a
// counterexample is one of least cost; it is printed as a transcript of
// the choices with the nodes' states after each.
//
// Two costs bound a path. -explore.depth counts every choice: every
// interleaving up to that length. -explore.deviations counts only the
// choices that differ from what a healthy system does next (next(): a
// crashed node restarts, else the oldest message not held back is
// delivered, else the earliest due timer fires, else time passes), and it
// decides the fate of a message when it is the network's next: deliver it,
// keep a duplicate, or hold it back for any later instant. Such paths may
// be long, but they depart from the healthy schedule only a few times,
// which is how the schedules of issue 12 look (a duplicate, a handover, a
// late vote). The budgets (-explore.crashes, -handovers, -dups, -pauses,
// -cuts) bound the faults of a path in both searches.
//
// What it cannot cover: clusters of a few nodes only (3 by default), terms
// up to -explore.terms, a handful of messages in flight and of faults;
// real time stops only at the instants where some timing condition
// changes, so actions in between are not tried; timings closer than a
// microsecond count as equal; the application's vote hooks always grant;
// no storage failures; and the hash is 64 bits (a collision could hide a
// state, with odds around n²/2⁶⁵ for n states). docs/verification.md says
// what it found and what make test and make verify run.

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	exploreDepth      = flag.Int("explore.depth", 0, "TestExplore: choices on a path (0: skip the test)")
	exploreDeviations = flag.Int("explore.deviations", 0, "TestExplore: choices other than the healthy next event on a path (0: bound by depth only)")
	exploreNodes      = flag.Int("explore.nodes", 3, "TestExplore: cluster size")
	exploreTerms      = flag.Uint64("explore.terms", 3, "TestExplore: highest term explored")
	exploreInFlight   = flag.Int("explore.inflight", 6, "TestExplore: messages in flight at most")
	exploreCrashes    = flag.Int("explore.crashes", 1, "TestExplore: process stops (crash, Close) on a path")
	exploreHandovers  = flag.Int("explore.handovers", 1, "TestExplore: StepDown and Close on a path")
	exploreDups       = flag.Int("explore.dups", 1, "TestExplore: duplicated deliveries on a path")
	exploreCuts       = flag.Int("explore.cuts", 0, "TestExplore: nodes whose outgoing links are cut, on a path")
	explorePauses     = flag.Int("explore.pauses", 0, "TestExplore: process pauses on a path")
	exploreSymmetry   = flag.Bool("explore.symmetry", false, "TestExplore: merge states that differ only in node names (faster, but the core breaks a few ties by name: see docs/verification.md)")
	exploreDrift      = flag.Float64("explore.drift", DefaultMaxClockDrift, "TestExplore: clock drift bound ρ: clocks run at 1-ρ or 1+ρ")
	exploreStart      = flag.String("explore.start", "fresh", "TestExplore: start state: fresh (no term yet) or leader (a leader with a lease, reached by the healthy schedule)")
	exploreLeadOnce   = flag.Bool("explore.leadonce", true, "TestExplore: check that a node leads each term once (off: see where a re-election leads)")
	exploreMaxStates  = flag.Int("explore.states", 0, "TestExplore: stop after this many states (0: no limit)")
	explorePriorities = flag.String("explore.priorities", "", "TestExplore: the nodes' priorities, comma-separated, 0 for a witness (empty: every node the default)")
	exploreShowCut    = flag.Bool("explore.showcut", false, "TestExplore: print the transcript of one path cut at the depth bound (to see why a search is not complete)")
	exploreBehind     = flag.String("explore.behind", "", "TestExplore: nodes whose data is behind, comma-separated names (a, b, ...): the others' GrantVote refuses them")
	exploreStable     = flag.Duration("explore.stable", 0, "TestExplore: PriorityStablePeriod (0: the default, 5 × ElectionMax)")
)

// parsePriorities reads -explore.priorities for a cluster of nodes.
func parsePriorities(s string, nodes int) ([]uint32, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != nodes {
		return nil, fmt.Errorf("explore: -explore.priorities=%q: want %d values", s, nodes)
	}
	out := make([]uint32, nodes)
	for i, p := range parts {
		v, err := strconv.ParseUint(strings.TrimSpace(p), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("explore: -explore.priorities=%q: %w", s, err)
		}
		out[i] = uint32(v)
	}
	return out, nil
}

// parseBehind reads -explore.behind for a cluster of nodes named a, b, ...
func parseBehind(s string, nodes int) ([]bool, error) {
	if s == "" {
		return nil, nil
	}
	out := make([]bool, nodes)
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if len(name) != 1 || name[0] < 'a' || int(name[0]-'a') >= nodes {
			return nil, fmt.Errorf("explore: -explore.behind=%q: %q is not one of the %d nodes a, b, ...", s, name, nodes)
		}
		out[name[0]-'a'] = true
	}
	return out, nil
}

// flagBounds returns the bounds the flags set.
func flagBounds() xBounds {
	return xBounds{
		maxTerm: *exploreTerms, inFlight: *exploreInFlight, depth: *exploreDepth, deviations: *exploreDeviations,
		crashes: *exploreCrashes, handovers: *exploreHandovers, dups: *exploreDups, cuts: *exploreCuts, pauses: *explorePauses, symmetry: *exploreSymmetry,
	}
}

// startOptions shape the start states.
type startOptions struct {
	nodes    int
	drift    float64
	start    string // fresh or leader
	leadOnce bool   // check that a node leads each term once
	symmetry bool   // the search merges renamed states
	tweak    func(*Config)
	// priorities are the nodes' priorities, 0 for a witness (nil: the
	// default for every node).
	priorities []uint32
	// behind marks the nodes whose data is behind: the others' GrantVote
	// refuses them (nil: nobody's).
	behind []bool
}

// startWorlds returns the start states: a cluster for every assignment of
// slow (1-drift) and fast (1+drift) clocks to the nodes (with symmetry,
// one per number of slow clocks), fresh, or with start "leader" where the
// healthy schedule has taken it: a leader holding a lease, nothing in
// flight.
func startWorlds(o startOptions) ([]*xWorld, error) {
	if o.nodes < 2 || o.nodes > maxNodes {
		return nil, fmt.Errorf("explore: -explore.nodes=%d: want 2 to %d", o.nodes, maxNodes)
	}
	cfg := DefaultConfig()
	cfg.MaxClockDrift = o.drift
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	var out []*xWorld
	for slow := 0; slow < 1<<o.nodes; slow++ {
		if o.symmetry && slow&(slow+1) != 0 {
			continue // with symmetry, only the first k nodes slow
		}
		rates := make([]float64, o.nodes)
		for i := range rates {
			rates[i] = 1 + o.drift
			if slow&(1<<i) != 0 {
				rates[i] = 1 - o.drift
			}
		}
		w := newWorld(cfg, rates, o.priorities, o.behind)
		w.leadAgainOK = !o.leadOnce
		switch o.start {
		case "fresh":
		case "leader":
			var err error
			if w, err = w.settle(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("explore: -explore.start=%q: want fresh or leader", o.start)
		}
		out = append(out, w)
	}
	return out, nil
}

// settle runs the healthy schedule from w until a leader holds a lease
// and nothing is in flight.
func (w *xWorld) settle() (*xWorld, error) {
	b := xBounds{maxTerm: 1 << 20, inFlight: 1 << 20}
	for range 10_000 {
		for _, n := range w.nodes {
			if len(w.net) == 0 && n.r.role == roleLeader && n.facts.leaseEnd > w.now {
				return w, nil
			}
		}
		next, out, bad := w.apply(w.next(), b)
		if out == outViolate {
			return nil, fmt.Errorf("explore: the healthy schedule broke an invariant: %s", bad)
		}
		w = next
	}
	return nil, fmt.Errorf("explore: the healthy schedule elected no leader")
}

// runExplore runs the search the flags describe and reports it.
func runExplore(t *testing.T, b xBounds, tweak func(*Config)) xReport {
	prios, err := parsePriorities(*explorePriorities, *exploreNodes)
	require.NoError(t, err)
	behind, err := parseBehind(*exploreBehind, *exploreNodes)
	require.NoError(t, err)
	stable := *exploreStable
	starts, err := startWorlds(startOptions{nodes: *exploreNodes, drift: *exploreDrift, start: *exploreStart,
		leadOnce: *exploreLeadOnce, symmetry: b.symmetry, priorities: prios, behind: behind, tweak: func(c *Config) {
			c.PriorityStablePeriod = stable
			if tweak != nil {
				tweak(c)
			}
		}})
	require.NoError(t, err)
	rep := explore(starts, b, *exploreMaxStates)
	t.Logf("explored %d states (%d choices tried; %d states beyond a bound, %d paths at the depth bound) from %d start states (%s): deepest path %d, deviations %d, in %s; bounds: %s; priorities %q, stable period %s, behind %q",
		rep.states, rep.transitions, rep.bounded, rep.cut, len(starts), *exploreStart, rep.depth, rep.cost, rep.elapsed.Round(time.Millisecond), b, *explorePriorities, stable, *exploreBehind)
	if !rep.complete && rep.violation == "" {
		t.Logf("stopped early at -explore.states=%d: not every state within the bounds was explored", *exploreMaxStates)
	}
	return rep
}

func (b xBounds) String() string {
	return fmt.Sprintf("depth %d, deviations %d, terms %d, in flight %d, crashes %d, handovers %d, dups %d, cuts %d, pauses %d",
		b.depth, b.deviations, b.maxTerm, b.inFlight, b.crashes, b.handovers, b.dups, b.cuts, b.pauses)
}

// TestExplore runs the explorer at the bounds the flags set (make
// test-explore, make verify) and fails with a counterexample transcript.
func TestExplore(t *testing.T) {
	if *exploreDeviations > maxCost {
		t.Fatalf("-explore.deviations=%d: at most %d", *exploreDeviations, maxCost)
	}
	if *exploreDepth == 0 {
		t.Skip("set -explore.depth to run the explorer (make test-explore, make verify)")
	}
	if raceEnabled {
		t.Skip("the explorer runs without -race (make test-explore)")
	}
	// The search allocates a copy of a node per choice and keeps only
	// hashes: fewer collections save a third of the time.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(4 << 30))
	b := flagBounds()
	rep := runExplore(t, b, nil)
	if *exploreShowCut && rep.cutPath != nil {
		t.Logf("a path cut at the depth bound (%d choices):\n%s", len(rep.cutPath), transcript(rep.cutStart, rep.cutPath, b))
	}
	if b.deviations > 0 && rep.cut > 0 && rep.violation == "" {
		// A deviation search is bounded by its deviations: the depth bound
		// is a guard against a state that never repeats, so a path that
		// reaches it left the search incomplete.
		t.Errorf("%d paths reached -explore.depth=%d: the search is not complete within %d deviations (raise the depth; -explore.showcut prints one such path)",
			rep.cut, b.depth, b.deviations)
	}
	if rep.violation != "" {
		t.Fatalf("violation after %d choices: %s\n%s", len(rep.path), rep.violation, transcript(rep.start, rep.path, b))
	}
}

// TestExplore_KnowsEveryField fails when the core gains a field: the
// explorer must clone it and say in its encoding whether it decides what
// the node does next.
func TestExplore_KnowsEveryField(t *testing.T) {
	require.Empty(t, unknownRaftFields(), "raft has fields the explorer does not know: update cloneRaft and encoder.node, then raftFields")
	r := rand.New(lowSource{})
	for _, n := range []int64{int64(DefaultElectionMax-DefaultElectionMin) + 1, int64(DefaultElectionMax-DefaultElectionMin)/2 + 1} {
		require.LessOrEqual(t, r.Int64N(n), int64(1), "lowSource must draw the lowest value of a range")
	}
}

func TestExplore_LowRandDrawsTheShortestRetryPause(t *testing.T) {
	// The explorer draws every random wait at its lowest and lets the
	// timer fire at any instant after it is due: that covers every draw
	// only if none is shorter. A retry pause that would double past
	// ElectionMax is a random election timeout, which can be shorter than
	// the lowest doubled pause: at 4 retries the lowest draw was 400 ms,
	// the pauses of a real core reach down to ElectionMin (found by the
	// second review of the promise).
	low, rnd := newTestRaft(t, "a", abc, nil), newTestRaft(t, "a", abc, nil)
	low.rng = lowRand
	for retries := range uint(10) {
		low.retries, rnd.retries = retries, retries
		shortest := low.retryTimeout()
		for range 2000 {
			require.GreaterOrEqual(t, rnd.retryTimeout(), shortest, "%d retries", retries)
		}
	}
}

// TestExplore_FindsDualLeaseWithoutCheckQuorum shows that the explorer can
// fail: without check-quorum and the lease refusal (thesis 6.2, 4.2.3) a
// leader cut off keeps its lease while the others elect another.
func TestExplore_FindsDualLeaseWithoutCheckQuorum(t *testing.T) {
	b := xBounds{maxTerm: 2, inFlight: 4, depth: 14, crashes: 0, handovers: 0, dups: 0}
	starts, err := startWorlds(startOptions{nodes: 3, drift: DefaultMaxClockDrift, start: "leader", leadOnce: true,
		tweak: func(c *Config) { c.DisableCheckQuorum = true }})
	require.NoError(t, err)
	rep := explore(starts, b, 0)
	require.NotEmpty(t, rep.violation, "no violation in %d states", rep.states)
	t.Logf("found after %d states: %s\n%s", rep.states, rep.violation, transcript(rep.start, rep.path, b))
	require.True(t, strings.Contains(rep.violation, "dual lease") || strings.Contains(rep.violation, "two leaders"), rep.violation)
}
