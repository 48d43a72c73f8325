package election

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// inboxLen bounds the messages waiting for the election loop; beyond it
// new messages are dropped (and counted), never queued without bound.
const inboxLen = 1024

// Node is one member of the election: it owns the election loop goroutine,
// the callback goroutine and the Transport. All methods are safe for
// concurrent use.
type Node struct {
	cfg   Config
	clock Clock
	tr    Transport
	r     *raft // touched only by the loop goroutine
	disp  *dispatcher

	inbox chan Message
	wake  chan struct{}
	// termRaised gets a token when publish sees the term rise (Close waits
	// on it for the peer it handed over to).
	termRaised chan struct{}
	cmds       chan command
	quit       chan struct{}
	done       chan struct{}

	// view is published by the loop after every step and read by the query
	// methods without waiting for the loop: one immutable snapshot, so a
	// reader never pairs a lease with the term before it.
	view      atomic.Pointer[view]
	leaseWake atomic.Pointer[leaseSignal] // closed when a lease starts to hold
	// leaseGained: a published view holds a lease gained since the waiters
	// were last woken (the loop's; wakeLeaseWaiters).
	leaseGained bool
	inDropped   [NumMsgKinds]atomic.Uint64

	statsMu sync.Mutex
	stats   Stats

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool

	releaseStore func() // unlocks the state file (storage_lock.go)
}

// New validates cfg, loads the persisted term and vote, and starts a node
// that talks through tr. New owns tr from then on, and closes it on
// failure too. A corrupt state file makes New fail with a *StorageError
// naming it.
func New(cfg Config, tr Transport) (*Node, error) {
	if tr == nil {
		return nil, errors.New("election: nil Transport")
	}
	if err := cfg.Validate(); err != nil {
		tr.Close()
		return nil, err
	}
	cfg = cfg.withDefaults()
	store, releaseStore, err := openStorage(cfg)
	if err != nil {
		tr.Close()
		return nil, err
	}
	clock := cfg.Clock
	if clock == nil {
		clock = SystemClock()
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	n := &Node{
		cfg:        cfg,
		clock:      clock,
		tr:         tr,
		inbox:      make(chan Message, inboxLen),
		wake:       make(chan struct{}, 1),
		termRaised: make(chan struct{}, 1),
		cmds:       make(chan command),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),

		releaseStore: releaseStore,
	}
	wake := make(leaseSignal)
	n.leaseWake.Store(&wake)
	r, err := newRaft(cfg, store, n.boundedHooks(), seed, clock.Now())
	if err != nil {
		tr.Close()
		releaseStore()
		return nil, err
	}
	n.r = r
	n.disp = newDispatcher(clock.Now, n.deliverEvent, func(p any) {
		n.logDirect(LogError, fmt.Sprintf("node %s: a callback panicked: %v", cfg.ID, p))
	}, r.role.state())
	n.publish()
	if err := tr.Start(n.deliver, n.reportTransport); err != nil {
		tr.Close()
		n.disp.stop()
		n.disp.wait()
		releaseStore()
		return nil, fmt.Errorf("election: starting the transport: %w", err)
	}
	n.flush()
	go n.loop()
	return n, nil
}

// deliver is the transport's way in: never blocks, drops when full.
func (n *Node) deliver(m Message) {
	if n.closed.Load() {
		return
	}
	select {
	case n.inbox <- m:
	default:
		if m.Kind.Valid() {
			n.inDropped[m.Kind].Add(1)
		}
	}
}

// reportTransport passes transport trouble on to OnError.
func (n *Node) reportTransport(err error) {
	if n.closed.Load() || n.cfg.OnError == nil {
		return
	}
	n.disp.push(event{kind: evError, err: err})
}

// ReportError delivers err to OnError through the callback goroutine, in
// order with the node's other callbacks. For layers above the node (the C
// API) that have trouble of their own to report.
func (n *Node) ReportError(err error) { n.reportTransport(err) }

// Log delivers a log line to OnLog through the callback goroutine, in
// order with the node's other callbacks; after Close it is discarded. For
// layers above the node (the transport, the C API) whose log lines belong
// with the node's.
func (n *Node) Log(level LogLevel, msg string) { n.logDirect(level, msg) }

// loop is the election loop: it feeds messages, timer expiries and
// commands to the core, one at a time.
func (n *Node) loop() {
	defer close(n.done)
	var stopTimer func() bool
	armed := time.Duration(-1)
	for {
		if d := n.r.nextDeadline(); d != armed {
			if stopTimer != nil {
				stopTimer()
			}
			armed = d
			stopTimer = afterFunc(n.clock, n.r.leaseEndsAt(d), max(d-n.clock.Now(), 0), func() {
				select {
				case n.wake <- struct{}{}:
				default:
				}
			})
		}
		select {
		case m := <-n.inbox:
			n.r.step(n.clock.Now(), m)
		case <-n.wake:
			armed = -1 // the timer fired: arm it again
			n.r.tick(n.clock.Now())
		case cmd := <-n.cmds:
			cmd.run(n.clock.Now())
			// The caller resumes only once the effect is visible to the
			// query methods and its messages are out: a StepDown that has
			// returned leaves IsLeader false.
			n.publish()
			n.sendMessages()
			close(cmd.done)
			// Events after the caller is released: waking the callback
			// goroutine first made the scheduler run it second, behind
			// the caller's hand-off back to its C thread (~60 µs).
			n.endTurn()
			continue
		case <-n.quit:
			if stopTimer != nil {
				stopTimer()
			}
			return
		}
		n.publish()
		n.flush()
	}
}

// command is work that another goroutine hands to the loop; done closes
// once it ran and its effect was published.
type command struct {
	run  func(now time.Duration)
	done chan struct{}
}

// view is what the query methods see of the core: published whole, never
// modified after.
type view struct {
	state      State
	term       uint64
	leader     string
	leaseUntil time.Duration
	contact    time.Duration // leaderContact, or -1 before any
	leaseGains uint64        // the core's "acquired" events so far
}

// publish makes the core's state visible to the query methods. It runs
// before the messages leave, so a leader that hands over has given up its
// lease before the TimeoutNow is sent.
func (n *Node) publish() {
	r := n.r
	v := &view{state: r.role.state(), term: r.term, leader: r.leader, leaseUntil: r.leaseUntil(), contact: -1, leaseGains: r.leaseGains}
	if r.hasContact {
		v.contact = r.leaderContact
	}
	old := n.view.Swap(v)
	if old != nil && v.term > old.term {
		select {
		case n.termRaised <- struct{}{}:
		default:
		}
	}
	n.noteLeaseGain(old, v)
	n.statsMu.Lock()
	n.stats = r.stats
	n.statsMu.Unlock()
}

// flush sends the core's messages, then delivers the turn's events.
func (n *Node) flush() {
	n.sendMessages()
	n.endTurn()
}

// endTurn ends every turn of the loop once the messages are out: the
// core's events to the callbacks, then the lease's waiters (last, see
// wakeLeaseWaiters).
func (n *Node) endTurn() {
	n.queueEvents()
	n.wakeLeaseWaiters()
}

// sendMessages hands the core's messages to the transport.
func (n *Node) sendMessages() {
	for _, m := range n.r.takeMsgs() {
		if !n.tr.Send(m) {
			n.r.stats.Dropped[m.Kind]++
		}
	}
}

// queueEvents queues the core's events for the callbacks.
func (n *Node) queueEvents() {
	for _, e := range n.r.takeEvents() {
		n.dispatch(e)
	}
}

func (n *Node) dispatch(e event) {
	if n.wants(e) {
		n.disp.push(e)
	}
}

// wants reports whether the application has a callback for e.
func (n *Node) wants(e event) bool {
	c := &n.cfg
	switch e.kind {
	case evState:
		return c.OnStateChange != nil
	case evLeader:
		return c.OnLeaderChange != nil
	case evError:
		return c.OnError != nil
	case evLog:
		return c.OnLog != nil
	case evLease:
		return c.OnLease != nil
	}
	return false
}

// deliverEvent calls the application's callback for e (on the callback
// goroutine).
func (n *Node) deliverEvent(e event) {
	c := &n.cfg
	switch e.kind {
	case evState:
		c.OnStateChange(e.from, e.to, e.term)
	case evLeader:
		c.OnLeaderChange(e.leader, e.term)
	case evError:
		c.OnError(e.err)
	case evLog:
		c.OnLog(e.level, e.msg)
	case evLease:
		c.OnLease(e.held, Lease{Term: e.term, Deadline: e.deadline})
	}
}

// logDirect queues a log line from outside the loop.
func (n *Node) logDirect(level LogLevel, msg string) {
	if n.cfg.OnLog != nil && level >= n.cfg.LogLevel {
		n.disp.push(event{kind: evLog, level: level, msg: msg})
	}
}

// boundedHooks wraps the user's vote hooks so that each call ends within
// HookTimeout: a late or panicking hook counts as a refusal (GrantVote,
// reported as a HookError at most once a second) or abandons the campaign
// (CurrentPosition, reported by the core).
func (n *Node) boundedHooks() hooks {
	h := hooks{
		position: func() ([]byte, error) { return nil, nil },
		grant:    func([]byte) bool { return true },
	}
	if f := n.cfg.CurrentPosition; f != nil {
		// The core reports a failure (once per campaign it abandons).
		h.position = func() ([]byte, error) { return callBounded(n.cfg.HookTimeout, f) }
	}
	if f := n.cfg.GrantVote; f != nil {
		var last atomic.Int64
		h.grant = func(pos []byte) bool {
			ok, err := callBounded(n.cfg.HookTimeout, func() bool { return f(pos) })
			n.reportHook("GrantVote", err, &last)
			return ok && err == nil
		}
	}
	return h
}

// hookReportGap is the least time between two reports of one failing hook:
// a hook that always fails would otherwise report at every vote.
const hookReportGap = time.Second

// reportHook reports a failed call of hook unless one was reported less
// than hookReportGap ago (last holds when, on the node's clock, plus one,
// so that zero means never).
func (n *Node) reportHook(hook string, err error, last *atomic.Int64) {
	if err == nil {
		return
	}
	now := int64(n.clock.Now()) + 1
	if prev := last.Load(); prev != 0 && now-prev < int64(hookReportGap) || !last.CompareAndSwap(prev, now) {
		return
	}
	n.reportTransport(&HookError{Hook: hook, Err: err})
}

// callBounded runs f on its own goroutine and waits at most timeout. It
// returns ErrHookTimeout when f is late (its goroutine is left behind: the
// election goes on), and the panic's value as an error when f panics.
func callBounded[T any](timeout time.Duration, f func() T) (v T, err error) {
	ch := make(chan T, 1)
	panicked := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				e, ok := p.(error)
				if !ok {
					e = fmt.Errorf("panic: %v", p)
				}
				panicked <- e // a panicking hook is a refusal, at once
			}
		}()
		ch <- f()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case v = <-ch:
		return v, nil
	case err = <-panicked:
		return v, err
	case <-t.C:
		return v, ErrHookTimeout
	}
}

// do runs cmd on the loop goroutine and waits for it.
func (n *Node) do(run func(now time.Duration)) error {
	cmd := command{run: run, done: make(chan struct{})}
	select {
	case n.cmds <- cmd:
	case <-n.done:
		return ErrClosed
	}
	<-cmd.done
	return nil
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// State returns the node's current state.
func (n *Node) State() State {
	if n.closed.Load() {
		return StateClosed
	}
	return n.view.Load().state
}

// Term returns the node's current term.
func (n *Node) Term() uint64 { return n.view.Load().term }

// Leader returns the id of the leader this node follows, or "" if none is
// known. The leader itself returns its own id.
func (n *Node) Leader() string {
	if n.closed.Load() {
		return ""
	}
	return n.view.Load().leader
}

// IsLeader reports whether this node leads and its lease holds now,
// computed from the clock at the time of the call: a leader whose process
// was paused longer than its lease answers false at once on resume.
func (n *Node) IsLeader() bool {
	_, _, ok := n.Lease()
	return ok
}

// Lease returns the term (the fencing token) and the instant of the node's
// Clock by which the leader must stop acting, if it leads now; ok is false
// otherwise. With SystemClock, MonotonicAt(deadline) is that instant.
func (n *Node) Lease() (term uint64, deadline time.Duration, ok bool) {
	return n.leaseOf(n.view.Load())
}

// leaseOf is Lease for the published view v.
func (n *Node) leaseOf(v *view) (term uint64, deadline time.Duration, ok bool) {
	if n.closed.Load() || v.state != StateLeader || n.clock.Now() >= v.leaseUntil {
		return 0, 0, false
	}
	return v.term, v.leaseUntil, true
}

// StepDown hands leadership to the most recently heard peer, which
// campaigns at once (TimeoutNow): about one round trip, not an election
// timeout. The lease ends before StepDown returns, and with it every
// deadline handed out before (by Lease, WaitLease or OnLease): the
// successor may hold a lease one round trip later, so code that kept such
// a deadline elsewhere must stop acting when StepDown (or Close) is
// called, not when the deadline passes; OnLease reports the loss. It
// returns ErrNotLeader if the node does not lead, ErrNoTransferTarget if no
// peer answered within ElectionMin, ErrClosed after Close.
func (n *Node) StepDown() error {
	var err error
	if e := n.do(func(now time.Duration) { err = n.r.transferLeadership(now) }); e != nil {
		return e
	}
	return err
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	n.statsMu.Lock()
	s := n.stats
	n.statsMu.Unlock()
	for k := range s.Dropped {
		s.Dropped[k] += n.inDropped[k].Load()
	}
	v := n.view.Load() // one snapshot: state, leader and term agree
	s.State, s.Leader, s.Term = v.state, v.leader, v.term
	if n.closed.Load() {
		s.State, s.Leader = StateClosed, ""
	}
	s.CallbacksQueued = uint64(n.disp.pending())
	s.CallbacksDropped = n.disp.dropped.Load()
	s.CallbackDelayLast, s.CallbackDelayMax = n.disp.delays()
	switch c := v.contact; {
	case s.State == StateLeader:
		s.SinceLeaderContact = 0
	case c < 0:
		s.SinceLeaderContact = -1
	default:
		s.SinceLeaderContact = n.clock.Now() - time.Duration(c)
	}
	return s
}

// Close stops the node: a leader first hands over to a peer when it can
// (waiting at most ElectionMin for the peer to take over), then the loop
// and the transport stop and the callback goroutine ends. The state file
// is kept. Close is idempotent and safe from any goroutine.
//
// Close has a bounded cost: the callbacks still queued when the loop stops
// are dropped (counted in Stats.CallbacksDropped), except the loss of a
// lease the application was told it holds and the final state change (to
// StateClosed, from the last state the application was told of); Close
// waits for the callback running now, then for those. Once Close returns no
// callback runs again, with two exceptions:
//
//   - called from one of the node's own callbacks, Close returns ErrBusy
//     and does nothing (it would wait for itself);
//   - called from a callback of another node, Close stops this node but
//     does not wait for its callbacks (two callbacks closing each other's
//     node would wait for each other forever): the one running now and the
//     final ones run after Close returns, on the node's callback goroutine.
//     A later Close from outside any callback waits for them.
func (n *Node) Close() error {
	if n.disp.inCallback() {
		return ErrBusy
	}
	n.closeOnce.Do(n.shutdown)
	if !inAnyCallback() {
		n.disp.wait()
	}
	return n.closeErr
}

// shutdown is Close's work but the wait for the callbacks: nothing in it
// waits for a callback, so it ends whatever the callbacks do.
func (n *Node) shutdown() {
	term := n.Term()
	if n.IsLeader() && n.StepDown() == nil {
		n.waitTermAbove(term, n.cfg.ElectionMin)
	}
	n.closed.Store(true)
	close(n.quit)
	<-n.done
	n.releaseStore() // the loop, the only writer, is gone
	n.closeErr = n.tr.Close()
	n.r.stop()
	var final []event
	for _, e := range n.r.takeEvents() { // the lease's loss, if it still held one
		if n.wants(e) {
			final = append(final, e)
		}
	}
	n.publish()
	// The final state change starts from the state the callbacks were last
	// told of (the dispatcher fills it in), not from the core's: the changes
	// still queued are dropped.
	closedEv := event{kind: evState, to: StateClosed, term: n.Term()}
	logEv := event{kind: evLog, level: LogInfo, msg: fmt.Sprintf("node %s closed at term %d", n.cfg.ID, n.Term())}
	for _, e := range []event{closedEv, logEv} {
		if n.wants(e) && (e.kind != evLog || e.level >= n.cfg.LogLevel) {
			final = append(final, e)
		}
	}
	n.disp.stop(final...)
}

// waitTermAbove waits until the node sees a term above term (the peer it
// handed over to has campaigned) or timeout passes.
func (n *Node) waitTermAbove(term uint64, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for n.Term() <= term {
		select {
		case <-n.termRaised:
		case <-t.C:
			return
		}
	}
}
