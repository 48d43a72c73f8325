package election

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// An adversary for the pure core, independent of the simulator: every
// message ever sent stays in a pool from which any one may be delivered at
// any later time, any number of times (arbitrary delay, duplication and
// reordering); a node acts only when the adversary says so (any pause);
// clocks run at the drift bounds; a restart may give the new process a
// fresh clock reading near zero (as SystemClock). The checks are the
// package's guarantees, written out here again so that a bug in the shared
// checker cannot hide one in the core.

// advStore is a node's storage: it survives restarts and remembers every
// vote it ever saved, to catch a second vote in one term.
type advStore struct {
	hs    HardState
	votes map[uint64]string
	fail  func(format string, args ...any)
	id    string
}

func (s *advStore) Load() (HardState, error) { return s.hs, nil }

func (s *advStore) Save(hs HardState) error {
	if hs.Term < s.hs.Term {
		s.fail("node %s saved term %d below %d", s.id, hs.Term, s.hs.Term)
	}
	if v, ok := s.votes[hs.Term]; ok && v != "" && hs.VotedFor != v {
		s.fail("node %s voted for %q and %q in term %d", s.id, v, hs.VotedFor, hs.Term)
	}
	if hs.VotedFor != "" {
		s.votes[hs.Term] = hs.VotedFor
	}
	s.hs = hs
	return nil
}

// advNode is one node: its process (r, nil while down), its clock
// (offset + rate·real) and what the checks remember of it.
type advNode struct {
	id       string
	r        *raft
	store    *advStore
	offset   time.Duration
	rate     float64
	leaseEnd time.Duration   // real instant its lease ends
	leading  uint64          // term it leads now, 0 if none
	left     map[uint64]bool // terms it stopped leading
	maxTerm  uint64
}

func (n *advNode) local(t time.Duration) time.Duration {
	return n.offset + time.Duration(float64(t)*n.rate)
}

// realAt is the first real instant at which the node's clock reads d.
func (n *advNode) realAt(d time.Duration) time.Duration {
	if d == math.MaxInt64 {
		return math.MaxInt64 // a lease that never ends
	}
	t := time.Duration(math.Ceil(float64(d-n.offset) / n.rate))
	for n.local(t) < d {
		t++
	}
	for n.local(t-1) >= d {
		t--
	}
	return t
}

// advWorld is one cluster under the adversary.
type advWorld struct {
	rng     *rand.Rand
	cfg     Config
	now     time.Duration // real time
	nodes   []*advNode
	pool    []Message
	leaders map[uint64]string
	trace   []string
	err     string
}

// newAdvWorld builds a cluster of ids. With rates nil each clock runs at a
// random one of 1-ρ, 1 and 1+ρ from a random reading; else node i runs at
// rates[i] from zero.
func newAdvWorld(seed uint64, ids []string, rates []float64, tweak func(*Config)) *advWorld {
	w := &advWorld{rng: rand.New(rand.NewPCG(seed, 7)), leaders: map[uint64]string{}}
	w.cfg = DefaultConfig()
	w.cfg.Cluster = "adv"
	if tweak != nil {
		tweak(&w.cfg)
	}
	rho := w.cfg.withDefaults().MaxClockDrift
	for i, id := range ids {
		n := &advNode{id: id, left: map[uint64]bool{}}
		n.store = &advStore{votes: map[uint64]string{}, fail: w.fail, id: id}
		if rates != nil {
			n.rate = rates[i]
		} else {
			n.rate = []float64{1 - rho, 1, 1 + rho}[w.rng.IntN(3)]
			n.offset = time.Duration(w.rng.Int64N(int64(time.Second)))
		}
		w.nodes = append(w.nodes, n)
	}
	for _, n := range w.nodes {
		w.start(n, false)
	}
	return w
}

func (w *advWorld) fail(format string, args ...any) {
	if w.err == "" {
		w.err = fmt.Sprintf("at %v: ", w.now) + fmt.Sprintf(format, args...)
	}
}

func (w *advWorld) logf(format string, args ...any) {
	w.trace = append(w.trace, fmt.Sprintf("%9.3fms ", float64(w.now)/1e6)+fmt.Sprintf(format, args...))
}

func (w *advWorld) node(id string) *advNode {
	for _, n := range w.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// start runs a new process of n; with fresh, its clock reads near zero.
func (w *advWorld) start(n *advNode, fresh bool) {
	if fresh {
		n.offset = time.Duration(w.rng.Int64N(int64(50*time.Millisecond))) - time.Duration(float64(w.now)*n.rate)
	}
	cfg := w.cfg
	cfg.ID, cfg.Peers = n.id, nil
	for _, o := range w.nodes {
		if o.id != n.id {
			cfg.Peers = append(cfg.Peers, o.id)
		}
	}
	r, err := newRaft(cfg, n.store, simHooks, w.rng.Uint64(), n.local(w.now))
	if err != nil {
		w.fail("start %s: %v", n.id, err)
		return
	}
	n.r = r
	w.logf("%s starts (clock %v, term %d, vote %q)", n.id, n.local(w.now), r.term, r.vote)
	w.after(n)
}

func (w *advWorld) crash(n *advNode) {
	w.logf("%s crashes", n.id)
	n.r = nil
	w.after(n)
}

// after collects n's output and checks the guarantees once n acted.
func (w *advWorld) after(n *advNode) {
	r := n.r
	if r == nil {
		n.leaseEnd = min(n.leaseEnd, w.now)
		if n.leading != 0 {
			n.left[n.leading] = true
			n.leading = 0
		}
		return
	}
	for _, m := range r.takeMsgs() {
		w.pool = append(w.pool, m)
	}
	r.takeEvents()
	if r.term < n.maxTerm {
		w.fail("node %s: term went back from %d to %d", n.id, n.maxTerm, r.term)
	}
	n.maxTerm = max(n.maxTerm, r.term)
	if r.term != n.store.hs.Term || r.vote != n.store.hs.VotedFor {
		w.fail("node %s: memory (%d, %q) is not the disk (%d, %q)", n.id, r.term, r.vote, n.store.hs.Term, n.store.hs.VotedFor)
	}
	if r.role != roleLeader {
		n.leaseEnd = min(n.leaseEnd, w.now)
		if n.leading != 0 {
			n.left[n.leading] = true
			n.leading = 0
		}
		return
	}
	if l, ok := w.leaders[r.term]; ok && l != n.id {
		w.fail("two leaders in term %d: %s and %s", r.term, l, n.id)
	}
	w.leaders[r.term] = n.id
	if n.leading != r.term {
		if n.left[r.term] {
			w.fail("node %s leads term %d again after it stopped leading it", n.id, r.term)
		}
		w.logf("%s leads term %d", n.id, r.term)
		n.leading = r.term
	}
	if lu := r.leaseUntil(); lu > n.local(w.now) {
		for _, o := range w.nodes {
			if o != n && o.leaseEnd > w.now {
				w.fail("dual lease: %s (term %d) and %s (lease until real %v)", n.id, r.term, o.id, o.leaseEnd)
			}
		}
		end := n.realAt(lu)
		if end > n.leaseEnd || n.leaseEnd <= w.now {
			w.logf("%s holds a lease at term %d until real %v", n.id, r.term, end)
		}
		n.leaseEnd = end
	}
}

// deliver hands pool[i] to its receiver; keep leaves a copy for later.
func (w *advWorld) deliver(i int, keep bool) {
	m := w.pool[i]
	if !keep {
		w.pool = append(w.pool[:i], w.pool[i+1:]...)
	}
	n := w.node(m.To)
	if n == nil || n.r == nil {
		return
	}
	w.logf("%s <- %s %s term %d granted=%v transfer=%v stamp=%v", m.To, m.From, m.Kind, m.Term, m.Granted, m.Transfer, time.Duration(m.Stamp))
	n.r.step(n.local(w.now), m)
	w.after(n)
}

// tickAt advances real time to n's next deadline (if it is not too far)
// and lets n's timer fire.
func (w *advWorld) tickAt(n *advNode, limit time.Duration) {
	d := n.realAt(n.r.nextDeadline())
	if d > w.now+limit {
		w.now += limit
		return
	}
	w.now = max(w.now, d)
	w.logf("%s tick (role %d, term %d)", n.id, n.r.role, n.r.term)
	n.r.tick(n.local(w.now))
	w.after(n)
}

func (w *advWorld) handOver(n *advNode) {
	if err := n.r.transferLeadership(n.local(w.now)); err == nil {
		w.logf("%s hands over at term %d", n.id, n.r.term)
	}
	w.after(n)
}

// chaos is one random action of the adversary. It leans towards the
// risky moments: a handover as soon as a lease is held, duplicates, and
// replays of old messages.
func (w *advWorld) chaos() {
	w.now += time.Duration(w.rng.Int64N(int64(3 * time.Millisecond)))
	n := w.nodes[w.rng.IntN(len(w.nodes))]
	for _, l := range w.nodes {
		if w.leaseHeld(l.id) && w.rng.IntN(4) == 0 {
			w.handOver(l)
			return
		}
	}
	switch p := w.rng.Float64(); {
	case p < 0.55 && len(w.pool) > 0:
		i := len(w.pool) - 1 - w.rng.IntN(min(len(w.pool), 6))
		if w.rng.IntN(6) == 0 {
			i = w.rng.IntN(len(w.pool)) // an old one: a long delay or a replay
		}
		w.deliver(i, w.rng.IntN(4) == 0)
	case p < 0.85 && n.r != nil:
		w.tickAt(n, time.Duration(w.rng.Int64N(int64(w.cfg.Heartbeat))))
	case p < 0.88 && n.r != nil:
		w.crash(n)
	case p < 0.94 && n.r == nil:
		w.start(n, w.rng.IntN(2) == 0)
	case p < 0.96:
		w.pool = nil // the network loses everything in flight
	default:
		w.now += time.Duration(w.rng.Int64N(int64(w.cfg.ElectionMax)))
	}
	if len(w.pool) > 48 {
		w.pool = w.pool[len(w.pool)-48:]
	}
}

// heal restarts every node, drops what is in flight and then runs a
// perfect network (delivery in 1 ms, timers on time) until some node holds
// a lease; it returns how long that took (real time).
func (w *advWorld) heal(bound time.Duration) (time.Duration, bool) {
	w.logf("heal")
	w.pool = nil
	for _, n := range w.nodes {
		if n.r == nil {
			w.start(n, false)
		}
	}
	start := w.now
	for w.now < start+bound && w.err == "" {
		for _, n := range w.nodes {
			if n.r.role == roleLeader && n.r.leaseUntil() > n.local(w.now) {
				return w.now - start, true
			}
		}
		if len(w.pool) > 0 {
			w.now += time.Millisecond
			for len(w.pool) > 0 && w.err == "" {
				w.deliver(0, false)
			}
			continue
		}
		next := w.nodes[0]
		for _, n := range w.nodes[1:] {
			if n.realAt(n.r.nextDeadline()) < next.realAt(next.r.nextDeadline()) {
				next = n
			}
		}
		w.tickAt(next, time.Hour)
	}
	return w.now - start, false
}

func (w *advWorld) dump() string {
	tail := w.trace
	if len(tail) > 80 {
		tail = tail[len(tail)-80:]
	}
	return strings.Join(tail, "\n")
}

// TestAdversary_RandomReplaySchedules runs random schedules of the
// adversary above on 2, 3 and 5 nodes and checks every guarantee after
// every step, then liveness after the network heals.
func TestAdversary_RandomReplaySchedules(t *testing.T) {
	schedules := 3000
	if raceEnabled || testing.Short() {
		schedules = 300
	}
	clusters := [][]string{{"a", "b", "c"}, {"a", "b"}, {"a", "b", "c", "d", "e"}}
	worst := time.Duration(0)
	for seed := range uint64(schedules) {
		ids := clusters[seed%uint64(len(clusters))]
		w := newAdvWorld(seed, ids, nil, nil)
		for range 400 {
			w.chaos()
			if w.err != "" {
				t.Fatalf("seed %d: %s\n%s", seed, w.err, w.dump())
			}
		}
		took, ok := w.heal(10 * w.cfg.ElectionMax)
		if w.err != "" {
			t.Fatalf("seed %d: %s\n%s", seed, w.err, w.dump())
		}
		if !ok {
			t.Fatalf("seed %d: no lease %v after the network healed\n%s", seed, took, w.dump())
		}
		worst = max(worst, took)
	}
	t.Logf("%d schedules; worst time to a lease after healing: %v", schedules, worst)
}

// TestAdversary_CatchesDualLeaseWithoutCheckQuorum shows that the
// adversary has teeth: without the lease refusal (a test-only switch) it
// finds two leases at once.
func TestAdversary_CatchesDualLeaseWithoutCheckQuorum(t *testing.T) {
	for seed := range uint64(1000) {
		w := newAdvWorld(seed, abc, nil, func(c *Config) { c.DisableCheckQuorum = true })
		for range 400 {
			if w.chaos(); w.err != "" {
				break
			}
		}
		if strings.Contains(w.err, "dual lease") {
			t.Logf("seed %d: %s", seed, w.err)
			return
		}
	}
	t.Fatal("no dual lease found without check-quorum")
}

// The helpers below let a test write a schedule by hand.

// at moves real time forward to t.
func (w *advWorld) at(t time.Duration) *advWorld {
	w.now = max(w.now, t)
	return w
}

// msg delivers the oldest message in flight of kind from -> to (keep: a
// copy stays in flight, a duplicate for later) and reports whether there
// was one.
func (w *advWorld) msg(kind MsgKind, from, to string, keep bool) bool {
	for i, m := range w.pool {
		if m.Kind == kind && m.From == from && m.To == to {
			w.deliver(i, keep)
			return true
		}
	}
	return false
}

// drop loses every message in flight of kind from -> to.
func (w *advWorld) drop(kind MsgKind, from, to string) {
	w.pool = slices.DeleteFunc(w.pool, func(m Message) bool { return m.Kind == kind && m.From == from && m.To == to })
}

// must is msg for a message that has to be in flight.
func (w *advWorld) must(t *testing.T, kind MsgKind, from, to string) {
	t.Helper()
	if !w.msg(kind, from, to, false) {
		t.Fatalf("no %s %s -> %s in flight\n%s", kind, from, to, w.dump())
	}
}

// exchange delivers kind from -> to and the receiver's answer back.
func (w *advWorld) exchange(t *testing.T, kind MsgKind, from, to string) {
	t.Helper()
	w.must(t, kind, from, to)
	resp := map[MsgKind]MsgKind{MsgPreVote: MsgPreVoteResp, MsgVote: MsgVoteResp, MsgHeartbeat: MsgHeartbeatResp}[kind]
	w.must(t, resp, to, from)
}

// fire lets n's timer fire at its deadline (time moves forward to it).
func (w *advWorld) fire(id string) {
	n := w.node(id)
	w.now = max(w.now, n.realAt(n.r.nextDeadline()))
	w.logf("%s tick (role %d, term %d)", n.id, n.r.role, n.r.term)
	n.r.tick(n.local(w.now))
	w.after(n)
}

// leaseHeld reports whether id holds a lease now.
func (w *advWorld) leaseHeld(id string) bool {
	n := w.node(id)
	return n.r != nil && n.r.role == roleLeader && n.r.leaseUntil() > n.local(w.now)
}

// check fails t if the world saw a violation.
func (w *advWorld) check(t *testing.T) {
	t.Helper()
	if w.err != "" {
		t.Fatalf("%s\n%s", w.err, w.dump())
	}
}

// elect runs a clean election of id: its timer fires, it wins the
// pre-vote and the vote of every peer in voters.
func (w *advWorld) elect(t *testing.T, id string, voters ...string) {
	t.Helper()
	w.fire(id)
	for _, v := range voters {
		w.exchange(t, MsgPreVote, id, v)
	}
	for _, v := range voters {
		w.exchange(t, MsgVote, id, v)
	}
	if w.node(id).r.role != roleLeader {
		t.Fatalf("%s did not win\n%s", id, w.dump())
	}
}

// TestAdversary_F1HandoverThenLateGrantHasNoDualLease is F1 of issue 12
// end to end, up to the second lease: a wins term 1 with c's vote while
// b's grant is still in flight, holds a lease, hands over to c; b's late
// grant arrives; a's heartbeat (if a led again) would reach b first; c
// campaigns with Transfer and asks b. Before the fix a led term 1 again
// with a lease from b's acknowledgement while c led term 2 with a lease
// from b's too.
func TestAdversary_F1HandoverThenLateGrantHasNoDualLease(t *testing.T) {
	w := newAdvWorld(1, abc, []float64{1, 1, 1}, nil)
	w.fire("a")
	w.exchange(t, MsgPreVote, "a", "b")
	w.exchange(t, MsgPreVote, "a", "c")
	w.must(t, MsgVote, "a", "b") // b grants: its answer stays in flight
	w.exchange(t, MsgVote, "a", "c")
	w.drop(MsgHeartbeat, "a", "b")
	w.exchange(t, MsgHeartbeat, "a", "c")
	if !w.leaseHeld("a") {
		t.Fatalf("a holds no lease\n%s", w.dump())
	}
	w.at(w.now + time.Millisecond).handOver(w.node("a"))
	w.must(t, MsgVoteResp, "b", "a") // the late grant
	w.msg(MsgHeartbeat, "a", "b", false)
	w.msg(MsgHeartbeatResp, "b", "a", false)
	w.must(t, MsgTimeoutNow, "a", "c")
	w.exchange(t, MsgVote, "c", "b")
	w.exchange(t, MsgHeartbeat, "c", "b")
	w.check(t)
	if !w.leaseHeld("c") || w.leaseHeld("a") {
		t.Fatalf("want c alone to hold the lease\n%s", w.dump())
	}
}

// driftBoundsRace puts every clock at a drift bound and the network at
// zero delay: the leader a runs slow (1-ρ: its lease lasts longest in real
// time), the follower b that acknowledged runs fast (1+ρ: its refusal
// window is shortest), c runs fast too and campaigns the instant b's
// window ends; it is elected and acknowledged at that same instant. The
// clocks start at offsets (the phases of the nanosecond roundings). It
// returns the world with c leading: a's lease must have ended by then.
func driftBoundsRace(t *testing.T, offsets [3]time.Duration) *advWorld {
	t.Helper()
	rho := DefaultMaxClockDrift
	w := newAdvWorld(1, abc, []float64{1 - rho, 1 + rho, 1 + rho}, nil)
	for i, n := range w.nodes {
		n.offset = offsets[i]
	}
	w.elect(t, "a", "b", "c")
	w.drop(MsgHeartbeat, "a", "c") // c never heard a: no window of its own
	w.exchange(t, MsgHeartbeat, "a", "b")
	if !w.leaseHeld("a") {
		t.Fatalf("a holds no lease\n%s", w.dump())
	}
	b, c := w.node("b"), w.node("c")
	w.now = b.realAt(b.r.leaderContact + w.cfg.ElectionMin) // b's window ends
	c.r.electionDeadline = c.local(w.now)                   // c times out at that instant
	w.elect(t, "c", "b")
	w.exchange(t, MsgHeartbeat, "c", "b")
	return w
}

// TestAdversary_LeaseAtTheDriftBounds pins the lease argument at the drift
// bounds (doc.go): with every clock at a bound and no network delay, a's
// lease ends before c's begins.
func TestAdversary_LeaseAtTheDriftBounds(t *testing.T) {
	w := driftBoundsRace(t, [3]time.Duration{})
	w.check(t)
	if !w.leaseHeld("c") || w.now < w.node("a").leaseEnd {
		t.Fatalf("want a's lease over when c's begins\n%s", w.dump())
	}
}

// TestAdversary_LeaseAtTheDriftBoundsHasSlack: the exact bound of doc.go
// left under 1 ns between a's lease and b's window, which the nanosecond
// roundings of the clocks decided: with these clock readings (a at 1-ρ
// from 265.471008 ms, b and c at 1+ρ from 595.031789 and 446.593183 ms)
// c held a lease at real 336.461101 ms while a's lasted until
// 336.461102 ms. leaseMargin gives the bound its slack.
func TestAdversary_LeaseAtTheDriftBoundsHasSlack(t *testing.T) {
	w := driftBoundsRace(t, [3]time.Duration{265471008, 595031789, 446593183})
	w.check(t)
}

// TestAdversary_StaleTimeoutNowAfterANewLeader replays a TimeoutNow
// seconds late: a leads term 1, hands over, and its TimeoutNow is held in
// the network; the target and (with five nodes) another node lag at term 1
// while a new leader is elected at term 2 by the others once their windows
// ended, and holds a lease. The stale TimeoutNow then makes the target
// campaign at term 2 with Transfer, which bypasses the lease refusal of
// the lagging voter: it must still not win, and the new leader alone holds
// a lease.
func TestAdversary_StaleTimeoutNowAfterANewLeader(t *testing.T) {
	for _, ids := range [][]string{abc, {"a", "b", "c", "d", "e"}} {
		w := newAdvWorld(1, ids, slices.Repeat([]float64{1}, len(ids)), nil)
		w.elect(t, "a", ids[1:]...)
		for _, p := range ids[1:] {
			w.exchange(t, MsgHeartbeat, "a", p)
		}
		w.handOver(w.node("a"))
		tn := w.pool[len(w.pool)-1]
		if tn.Kind != MsgTimeoutNow {
			t.Fatalf("no TimeoutNow\n%s", w.dump())
		}
		lagging := []string{tn.To}
		if len(ids) == 5 {
			lagging = append(lagging, map[bool]string{true: "d", false: "e"}[tn.To == "e"])
		}
		var others []string
		for _, id := range ids {
			if !slices.Contains(lagging, id) {
				others = append(others, id)
			}
		}
		nl, voters := others[1], slices.DeleteFunc(slices.Clone(others), func(id string) bool { return id == others[1] })
		w.at(w.now + 2*w.cfg.ElectionMax)
		w.elect(t, nl, voters...)
		for _, v := range voters {
			w.exchange(t, MsgHeartbeat, nl, v)
		}
		if !w.leaseHeld(nl) {
			t.Fatalf("%s holds no lease\n%s", nl, w.dump())
		}
		for end := w.now + 2*time.Second; w.now < end; { // nl leads on
			w.fire(nl)
			for _, v := range voters {
				w.exchange(t, MsgHeartbeat, nl, v)
			}
		}
		w.must(t, MsgTimeoutNow, "a", tn.To) // the stale TimeoutNow
		for _, p := range ids {
			if p != tn.To {
				w.exchange(t, MsgVote, tn.To, p)
			}
		}
		w.check(t)
		if w.node(tn.To).r.role == roleLeader || !w.leaseHeld(nl) {
			t.Fatalf("%d nodes: want %s alone in office\n%s", len(ids), nl, w.dump())
		}
	}
}
