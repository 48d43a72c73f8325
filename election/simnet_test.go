package election

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// This file is the deterministic simulator's world: a virtual real-time
// clock, an event queue ordered by that time, per-node drifting clocks, a
// network with loss, delay (hence reordering), duplication and one-way
// cuts, and crashes, restarts and process pauses. It drives the pure core
// (raft) directly: no goroutines, no wall clock, so a seed replays a run
// exactly. sim_test.go generates schedules; invariants_test.go checks them.

type simEventKind uint8

const (
	simDeliver simEventKind = iota // a message reaches node
	simTimer                       // node's nextDeadline is due
	simResume                      // a paused node runs again
	simAction                      // a fault or a probe (fn)
)

type simEvent struct {
	at   time.Duration // real (virtual) time
	seq  uint64        // FIFO among equal times: determinism
	kind simEventKind
	node int
	gen  uint64 // simTimer: the arming it belongs to; simDeliver: the late epoch (late)
	late bool   // simDeliver: held back or replayed, cancelled by a heal
	msg  Message
	fn   func()
}

type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// simNode is one simulated process. Its clock is offset + rate·t, with t
// the real (virtual) time and rate within [1-ρ, 1+ρ]; the clock keeps
// running across pauses, and across crashes too unless the restart gets a
// fresh process clock (sim.restart): then, as SystemClock, which counts
// from the process start, it reads near zero again and the new process
// reuses the clock readings of its previous life.
type simNode struct {
	idx    int
	id     string
	cfg    Config
	r      *raft // nil while crashed
	store  *simStorage
	offset time.Duration
	rate   float64

	up          bool
	pausedUntil time.Duration // real; paused while now < pausedUntil
	pending     []Message     // arrived during a pause, in order
	timerGen    uint64
	armed       time.Duration // real instant of the armed timer, -1 none

	// Invariant bookkeeping.
	leaseEnd time.Duration // real instant the current lease ends; lease held while now < leaseEnd
	maxTerm  uint64        // highest term ever seen in memory, across restarts
	reported State         // the last state change reported by the core's events
	// The lease as the core's events reported it in this process's life:
	// held since an "acquired" of evTerm, until the "lost".
	evHeld     bool
	evTerm     uint64
	evDeadline time.Duration // on the node's clock
	resumedAt  time.Duration // real instant of the last resume from a pause
	savesSeen  int           // store.saves after its last activation (saveTime)
	takeovers  uint64        // Stats.PriorityTakeovers after its last step (invariants.check)
	hooks      hooks         // its vote hooks
}

// local returns the node's clock at real time t.
func (n *simNode) local(t time.Duration) time.Duration {
	return n.offset + time.Duration(float64(t)*n.rate)
}

// realAt returns the first real instant, not before now, at which the
// node's clock reads at least d.
func (n *simNode) realAt(now, d time.Duration) time.Duration {
	if d == math.MaxInt64 {
		return math.MaxInt64
	}
	if n.local(now) >= d {
		return now
	}
	t := time.Duration(math.Ceil(float64(d-n.offset) / n.rate))
	for n.local(t) < d {
		t++
	}
	for t > now && n.local(t-1) >= d {
		t--
	}
	return max(t, now)
}

func (n *simNode) paused(now time.Duration) bool { return n.up && now < n.pausedUntil }

// simOptions shape one simulated cluster.
type simOptions struct {
	nodes int
	cfg   Config // timings and switches; identity is filled in
	drift float64
	trace bool
	// freshStart starts every clock near zero (0-100 ms), as SystemClock
	// in processes that just started, instead of at a random reading
	// within an hour: a restart with a fresh clock then reuses readings
	// of the previous life.
	freshStart bool
	// nodeCfg, if set, changes node i's configuration (priorities,
	// witnesses) before it starts.
	nodeCfg func(i int, c *Config)
	// nodeHooks, if set, gives node i vote hooks of its own (simHooks
	// otherwise: every vote granted).
	nodeHooks func(i int) hooks
}

// sim is one simulated cluster.
type sim struct {
	seed  uint64
	rng   *rand.Rand
	now   time.Duration
	seq   uint64
	q     simQueue
	nodes []*simNode
	byID  map[string]int
	steps int

	// network
	cut                map[[2]int]bool // from, to
	loss, dup          float64
	delayMin, delayMax time.Duration
	// late is the chance that a message (of a kind in lateKinds, every
	// kind if empty) is delivered again after a long delay, in [lateMin,
	// lateMax]: a network that holds a packet for seconds and then
	// delivers it to whichever process runs then. holdBack is the chance
	// that such a message is delivered only late, not also in time.
	late, holdBack   float64
	lateMin, lateMax time.Duration
	lateKinds        []MsgKind
	// capture is the chance that a sent message is also kept in captured
	// (the latest simCaptureMax), for replayCaptured to inject much later.
	capture  float64
	captured []Message

	lateGen uint64 // late deliveries of an older epoch are cancelled

	// freshClock is the chance that a restart (restart, healAll) gets a
	// fresh process clock that reads near zero.
	freshClock float64
	// healed is set by healAll: the schedule's faults have stopped, and
	// the fault drivers that watch the run (handovers) stand still. quiet
	// is when the last message sent before the heal arrives.
	healed bool
	quiet  time.Duration

	// saveTime, if set, is how long a save of the term and vote takes: a
	// node that saved while handling something stops for that long (its
	// loop waits for the fsync) and what it sent then leaves that much
	// later. Zero otherwise.
	saveTime func() time.Duration

	inv   invariants
	trace []string
	tron  bool
	// onStep, if set, runs after every activation of a node (probes).
	onStep func(n *simNode)
}

func newSim(seed uint64, o simOptions) *sim {
	s := &sim{
		seed:     seed,
		rng:      rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1)),
		byID:     map[string]int{},
		cut:      map[[2]int]bool{},
		delayMin: 200 * time.Microsecond,
		delayMax: time.Millisecond,
		tron:     o.trace,
	}
	s.inv.init(s)
	ids := make([]string, o.nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
		s.byID[ids[i]] = i
	}
	for i, id := range ids {
		cfg := o.cfg
		cfg.Cluster, cfg.ID = "sim", id
		cfg.Peers = nil
		for _, p := range ids {
			if p != id {
				cfg.Peers = append(cfg.Peers, p)
			}
		}
		cfg.MaxClockDrift = o.drift
		if o.nodeCfg != nil {
			o.nodeCfg(i, &cfg)
		}
		if o.trace {
			cfg.OnLog = func(LogLevel, string) {} // makes the core format its log lines
		}
		rate := 1.0
		if o.drift > 0 {
			switch s.rng.IntN(3) { // the extremes are the interesting cases
			case 0:
				rate = 1 - o.drift
			case 1:
				rate = 1 + o.drift
			default:
				rate = 1 - o.drift + 2*o.drift*s.rng.Float64()
			}
		}
		n := &simNode{
			idx:    i,
			id:     id,
			cfg:    cfg,
			offset: time.Duration(s.rng.Int64N(int64(time.Hour))),
			rate:   rate,
			armed:  -1,
			hooks:  simHooks,
		}
		if o.nodeHooks != nil {
			n.hooks = o.nodeHooks(i)
		}
		if o.freshStart {
			n.offset = simFreshReading(s.rng)
		}
		n.store = &simStorage{votes: map[uint64]string{}, fail: s.inv.storageViolation(n)}
		s.nodes = append(s.nodes, n)
	}
	for _, n := range s.nodes {
		s.start(n)
	}
	return s
}

func (s *sim) tracef(format string, args ...any) {
	if s.tron {
		s.trace = append(s.trace, fmt.Sprintf("%12s ", s.now)+fmt.Sprintf(format, args...))
	}
}

func (s *sim) push(e *simEvent) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

// at schedules fn at real time t.
func (s *sim) at(t time.Duration, fn func()) {
	s.push(&simEvent{at: max(t, s.now), kind: simAction, fn: fn})
}

var simHooks = hooks{
	position: func() ([]byte, error) { return nil, nil },
	grant:    func([]byte) bool { return true },
}

// start (re)creates the node's core from its storage: a process start.
func (s *sim) start(n *simNode) {
	r, err := newRaft(n.cfg, n.store, n.hooks, s.rng.Uint64(), n.local(s.now))
	if err != nil {
		s.inv.fail("node %s could not restart: %v", n.id, err)
		return
	}
	n.r, n.up, n.pausedUntil, n.pending = r, true, 0, nil
	n.reported = StateFollower
	n.evHeld = false // a new process: the old lease died with the old one
	n.takeovers = 0
	s.tracef("%s started at term %d (vote %q)", n.id, r.term, r.vote)
	s.activated(n)
}

// simFreshReading is what a fresh process clock reads when the process
// starts: 0-100 ms (the time to load the state and join).
func simFreshReading(rng *rand.Rand) time.Duration {
	return time.Duration(rng.Int64N(int64(100 * time.Millisecond)))
}

// restart starts a new process of a crashed node, with a fresh process
// clock at the chance freshClock. The invariants' bookkeeping is in real
// time (the crash ended the node's lease), so only the new process reads
// its clock from the new offset; its rate, the machine's, stays.
func (s *sim) restart(n *simNode) {
	if n.up {
		return
	}
	if s.freshClock > 0 && s.rng.Float64() < s.freshClock {
		n.offset = simFreshReading(s.rng) - time.Duration(float64(s.now)*n.rate)
		s.tracef("%s gets a fresh process clock reading %s", n.id, n.local(s.now))
	}
	s.start(n)
}

// watch adds fn to the probes run after every activation of a node, after
// the invariants' check.
func (s *sim) watch(fn func(n *simNode)) {
	prev := s.onStep
	if prev == nil {
		s.onStep = fn
		return
	}
	s.onStep = func(n *simNode) { prev(n); fn(n) }
}

// crash stops the node at once; its storage survives.
func (s *sim) crash(n *simNode) {
	if !n.up {
		return
	}
	s.tracef("%s crashed (state %s, term %d)", n.id, n.r.role.state(), n.r.term)
	n.up, n.r, n.pending = false, nil, nil
	n.timerGen++
	n.armed = -1
	s.inv.lost(n)
}

// pause freezes the process for d of real time: it handles nothing, its
// clock runs on, and it believes it still leads meanwhile.
func (s *sim) pause(n *simNode, d time.Duration) {
	if !n.up {
		return
	}
	until := max(n.pausedUntil, s.now+d)
	n.pausedUntil = until
	s.tracef("%s paused until %s", n.id, until)
	s.push(&simEvent{at: until, kind: simResume, node: n.idx})
}

func (s *sim) resume(n *simNode) {
	if !n.up {
		return
	}
	n.pausedUntil = 0
	n.resumedAt = s.now
	s.tracef("%s resumed with %d messages waiting", n.id, len(n.pending))
	pend := n.pending
	n.pending = nil
	tickFirst := s.rng.IntN(2) == 0
	if tickFirst {
		s.tickIfDue(n)
	}
	for i, m := range pend {
		if !n.up {
			return
		}
		if n.paused(s.now) {
			// A save paused it again (saveTime): the rest waits for the
			// save to end, as the loop waits for the fsync, and is handled
			// at the next resume, before what arrives meanwhile.
			n.pending = append(pend[i:], n.pending...)
			break
		}
		n.r.step(n.local(s.now), m)
		s.activated(n)
	}
	if !tickFirst {
		s.tickIfDue(n)
	}
	s.rearm(n)
}

// tickIfDue ticks n if its deadline has come and it runs (not paused
// by a save, say).
func (s *sim) tickIfDue(n *simNode) {
	if n.up && !n.paused(s.now) && n.local(s.now) >= n.r.nextDeadline() {
		n.r.tick(n.local(s.now))
		s.activated(n)
	}
}

// activated runs after the core of n handled something: it sends the
// outbox, checks the invariants and arms the timer.
func (s *sim) activated(n *simNode) {
	s.steps++
	msgs := n.r.takeMsgs()
	for _, e := range n.r.takeEvents() {
		switch e.kind {
		case evLog:
			s.tracef("%s", e.msg)
		case evState:
			if e.from != n.reported {
				s.inv.fail("node %s reported a change from %s to %s, but its last reported state was %s", n.id, e.from, e.to, n.reported)
			}
			n.reported = e.to
		case evLease:
			s.checkLeaseEvent(n, e)
		}
	}
	if n.reported != n.r.role.state() {
		s.inv.fail("node %s is %s but last reported %s", n.id, n.r.role.state(), n.reported)
	}
	// What the events told is the core's lease at this instant: no lease
	// acts untold, none told held once it has ended (the deadline, a
	// step-down), and a told deadline never later than the lease's.
	now := n.local(s.now)
	if lu := n.r.leaseUntil(); (lu > now) != n.evHeld || (n.evHeld && n.evDeadline > lu) {
		s.inv.fail("node %s: its lease events say held %v (term %d, deadline %s), its core's lease ends at %s, now %s", n.id, n.evHeld, n.evTerm, n.evDeadline, lu, now)
	}
	var saving time.Duration // the messages leave once the save is done
	if n.store.saves != n.savesSeen {
		n.savesSeen = n.store.saves
		if s.saveTime != nil {
			saving = s.saveTime()
			s.pause(n, saving)
		}
	}
	for _, m := range msgs {
		s.send(n, m, saving)
	}
	s.inv.check(n, msgs)
	if s.onStep != nil {
		s.onStep(n)
	}
	s.rearm(n)
}

// checkLeaseEvent checks the lease events' contract (issue 13): every
// "lost" follows exactly one "acquired" of the same term (its deadline the
// acquired one or later, after renewals), terms of
// acquisitions never go down within a process's life, an "acquired"
// carries a deadline still ahead, and a "lost" that is due because the
// deadline passed comes at the deadline itself, or at once on resume when
// the process was paused over it. A lease that was lost is never reported
// in the event after a state change (becomeFollower reports it first).
func (s *sim) checkLeaseEvent(n *simNode, e event) {
	now := n.local(s.now)
	if e.held {
		switch {
		case n.evHeld:
			s.inv.fail("node %s: lease acquired at term %d while the one of term %d was not reported lost", n.id, e.term, n.evTerm)
		case e.term < n.evTerm:
			s.inv.fail("node %s: lease acquired at term %d after one at term %d", n.id, e.term, n.evTerm)
		case e.deadline <= now:
			s.inv.fail("node %s: lease acquired at term %d with a deadline already past", n.id, e.term)
		}
		n.evHeld, n.evTerm, n.evDeadline = true, e.term, e.deadline
		return
	}
	switch {
	case !n.evHeld:
		s.inv.fail("node %s: lease of term %d reported lost, but none was reported acquired", n.id, e.term)
	case e.term != n.evTerm || e.deadline < n.evDeadline:
		s.inv.fail("node %s: lost (term %d, deadline %s) does not match the lease acquired (term %d, deadline %s; renewals only move it later)", n.id, e.term, e.deadline, n.evTerm, n.evDeadline)
	case s.now > n.realAt(0, e.deadline) && s.now != n.resumedAt:
		s.inv.fail("node %s: lease of term %d reported lost at %s, after its deadline (real %s) and not on a resume", n.id, e.term, s.now, n.realAt(0, e.deadline))
	}
	n.evHeld = false
}

func (s *sim) rearm(n *simNode) {
	if !n.up || n.paused(s.now) {
		return
	}
	at := n.realAt(s.now, n.r.nextDeadline())
	if at == n.armed {
		return
	}
	n.timerGen++
	n.armed = at
	s.push(&simEvent{at: at, kind: simTimer, node: n.idx, gen: n.timerGen})
}

// send puts m on the network, after a while (a save the sender waits
// for: saveTime) plus the network's delay.
func (s *sim) send(from *simNode, m Message, after time.Duration) {
	to, ok := s.byID[m.To]
	if !ok {
		return
	}
	if s.cut[[2]int{from.idx, to}] || (s.loss > 0 && s.rng.Float64() < s.loss) {
		return
	}
	copies := 1
	if s.dup > 0 && s.rng.Float64() < s.dup {
		copies = 2
	}
	if s.capture > 0 && s.rng.Float64() < s.capture {
		if len(s.captured) == simCaptureMax {
			s.captured = slices.Delete(s.captured, 0, 1)
		}
		s.captured = append(s.captured, m)
	}
	if s.late > 0 && (len(s.lateKinds) == 0 || slices.Contains(s.lateKinds, m.Kind)) && s.rng.Float64() < s.late {
		if s.rng.Float64() < s.holdBack {
			copies--
		}
		d := s.lateMin + time.Duration(s.rng.Int64N(int64(s.lateMax-s.lateMin)+1))
		s.tracef("%s %s -> %s term %d held back until %s", m.Kind, m.From, m.To, m.Term, s.now+d)
		s.push(&simEvent{at: s.now + d, kind: simDeliver, node: to, msg: m, late: true, gen: s.lateGen})
	}
	for range copies {
		d := s.delayMin
		if s.delayMax > s.delayMin {
			d += time.Duration(s.rng.Int64N(int64(s.delayMax - s.delayMin)))
		}
		s.push(&simEvent{at: s.now + after + d, kind: simDeliver, node: to, msg: m})
	}
}

// simCaptureMax bounds the captured messages kept for replay.
const simCaptureMax = 64

// replayCaptured injects up to k of the captured messages, chosen at
// random, into the network again: they reach their receivers within the
// current delays, seconds after they were sent, and a receiver that
// restarted meanwhile handles them in its new life.
func (s *sim) replayCaptured(k int) {
	for range min(k, len(s.captured)) {
		i := s.rng.IntN(len(s.captured))
		m := s.captured[i]
		s.captured = slices.Delete(s.captured, i, i+1)
		s.tracef("replaying %s %s -> %s term %d", m.Kind, m.From, m.To, m.Term)
		d := s.delayMin + time.Duration(s.rng.Int64N(int64(s.delayMax-s.delayMin)+1))
		s.push(&simEvent{at: s.now + d, kind: simDeliver, node: s.byID[m.To], msg: m, late: true, gen: s.lateGen})
	}
}

// run processes events until real time until (inclusive) or a violation.
func (s *sim) run(until time.Duration) error {
	for len(s.q) > 0 && s.inv.err == nil {
		if s.q[0].at > until {
			break
		}
		e := heap.Pop(&s.q).(*simEvent)
		s.now = e.at
		n := (*simNode)(nil)
		if e.kind != simAction {
			n = s.nodes[e.node]
		}
		switch e.kind {
		case simAction:
			e.fn()
		case simDeliver:
			switch {
			case !n.up, e.late && e.gen != s.lateGen:
			case n.paused(s.now):
				n.pending = append(n.pending, e.msg)
			default:
				n.r.step(n.local(s.now), e.msg)
				s.activated(n)
			}
		case simTimer:
			if n.up && e.gen == n.timerGen && !n.paused(s.now) {
				n.armed = -1
				n.r.tick(n.local(s.now))
				s.activated(n)
			}
		case simResume:
			if n.up && n.pausedUntil == e.at {
				s.resume(n)
			}
		}
		if s.steps > 5_000_000 {
			s.inv.fail("livelock: over %d steps by %s", s.steps, s.now)
		}
	}
	if s.now < until && s.inv.err == nil {
		s.now = until
	}
	return s.inv.err
}

// leader returns the node holding a lease now, or nil.
func (s *sim) leader() *simNode {
	for _, n := range s.nodes {
		if n.up && n.leaseEnd > s.now {
			return n
		}
	}
	return nil
}

// healAll ends every fault: links, loss, duplication, long delays, pauses,
// crashes and failing disks, and stops the fault drivers that watch the
// run. The messages held back for a late delivery are lost; those in
// ordinary flight (up to 200 ms) still arrive, by s.quiet.
func (s *sim) healAll() {
	clear(s.cut)
	s.loss, s.dup = 0, 0
	s.delayMin, s.delayMax = 200*time.Microsecond, time.Millisecond
	s.late, s.capture, s.captured = 0, 0, nil
	s.lateGen++
	s.healed, s.quiet = true, s.now
	for _, e := range s.q {
		if e.kind == simDeliver && !e.late {
			s.quiet = max(s.quiet, e.at)
		}
	}
	for _, n := range s.nodes {
		n.store.SetFail(nil)
		if !n.up {
			s.restart(n)
		} else if n.paused(s.now) {
			s.resume(n)
		}
	}
	s.tracef("healed")
}

// isolate cuts n off both ways.
func (s *sim) isolate(n *simNode) {
	for _, o := range s.nodes {
		if o != n {
			s.cut[[2]int{n.idx, o.idx}] = true
			s.cut[[2]int{o.idx, n.idx}] = true
		}
	}
	s.tracef("%s isolated", n.id)
}

func (s *sim) dump() string {
	if len(s.trace) == 0 {
		return "(run with -sim.seed=S -v to see a trace)"
	}
	lines := s.trace
	if len(lines) > 400 {
		lines = lines[len(lines)-400:]
	}
	return strings.Join(lines, "\n")
}
