package election

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// The explorer's choices: what may happen next in a state, and doing it
// on a copy of the state, with the invariants checked after the step.

// xKind is a kind of choice.
type xKind uint8

const (
	xDeliver  xKind = iota // the network delivers a message
	xDup                   // it delivers it and keeps a (delayed) duplicate in flight
	xDrop                  // it loses a message
	xDelay                 // it holds a message back (the deviation search)
	xTick                  // a node's timer fires (it is due)
	xAdvance               // time passes to the next instant at which something can change
	xCrash                 // a node's process stops (its storage survives)
	xRestart               // a stopped node starts a new process, its clock at 0 again
	xStepDown              // a leader hands over (transferLeadership)
	xClose                 // a leader hands over and its process stops (Close)
	xCut                   // what node sends is lost for ElectionMax (its outgoing links are cut)
	xPause                 // node's process is paused for ElectionMax
)

// choice is one thing that may happen: kind, the node it happens to, and
// arg, the index of the message in flight (or the far end of a link).
type choice struct {
	kind      xKind
	node, arg int
}

// xBounds are the limits of the search; the flags of explore_test.go set
// them.
type xBounds struct {
	maxTerm    uint64 // states with a higher term are not explored
	inFlight   int    // nor states with more messages in flight
	depth      int    // choices on a path
	deviations int    // choices other than the network's and timers' next event on a path; 0: no such bound
	crashes    int    // process stops on a path (crash and Close)
	handovers  int    // StepDown and Close on a path
	dups       int    // duplicated deliveries on a path
	cuts       int    // nodes cut off (outgoing links) on a path
	pauses     int    // process pauses on a path
	// symmetry merges the states that differ only in the names of the
	// nodes (see -explore.symmetry).
	symmetry bool
}

// choices returns the choices of w within the budgets b. The depth search
// takes every one of them. The deviation search (b.deviations > 0) takes
// next() at no cost and these, other than next(), at a cost of one each;
// it decides the fate of a message when it is the network's next (hold it
// back, or deliver it and keep a duplicate) and may deliver a held one at
// any time, so reordering two messages costs two.
func (w *xWorld) choices(b xBounds) []choice {
	dev := b.deviations > 0
	out := make([]choice, 0, 3*len(w.net)+4*len(w.nodes)+1)
	seen := make([]Message, 0, len(w.net))
	full := len(w.net)+len(w.nodes)-1 > b.inFlight
	first := true // the oldest message not held back: the network's next
	for i, x := range w.net {
		isFirst := first && !x.delayed && !w.paused(w.index(x.m.To))
		first = first && !isFirst
		if isIn(seen, x.m) {
			continue // a copy of a message already offered: the same outcome
		}
		seen = append(seen, x.m)
		to := w.index(x.m.To)
		up := w.running(to)
		if up && (!dev || x.delayed || isFirst) {
			out = append(out, choice{xDeliver, to, i})
			if w.dups < b.dups {
				out = append(out, choice{xDup, to, i})
			}
		}
		if dev && isFirst {
			out = append(out, choice{xDelay, to, i})
		}
		// Losing a message matters only to make room: one never
		// delivered is as good as lost.
		if full && (!dev || x.delayed) {
			out = append(out, choice{xDrop, to, i})
		}
	}
	for i, n := range w.nodes {
		if n.r == nil {
			out = append(out, choice{xRestart, i, 0})
			continue
		}
		if w.crashes < b.crashes {
			out = append(out, choice{xCrash, i, 0})
		}
		if w.paused(i) {
			continue
		}
		if n.local(w.now) >= n.r.nextDeadline() {
			out = append(out, choice{xTick, i, 0})
		}
		if w.pauses < b.pauses {
			out = append(out, choice{xPause, i, 0})
		}
		if n.r.role == roleLeader && w.handovers < b.handovers {
			out = append(out, choice{xStepDown, i, 0})
			if w.crashes < b.crashes {
				out = append(out, choice{xClose, i, 0})
			}
		}
		if w.cuts < b.cuts && !w.isolated(i) {
			out = append(out, choice{xCut, i, 0})
		}
	}
	if _, ok := w.nextInstant(); ok {
		out = append(out, choice{xAdvance, -1, 0})
	}
	if dev {
		healthy := w.next()
		out = slices.DeleteFunc(out, func(c choice) bool { return c == healthy })
	}
	return out
}

func isIn(ms []Message, m Message) bool {
	for _, o := range ms {
		if o.Kind == m.Kind && o.From == m.From && o.To == m.To && o.Term == m.Term &&
			o.Granted == m.Granted && o.Transfer == m.Transfer && o.Stamp == m.Stamp && string(o.Position) == string(m.Position) {
			return true
		}
	}
	return false
}

// next is the choice the system makes when nothing goes wrong: a stopped
// node starts again at once (as under a supervisor), else the network
// delivers the oldest message not held back (to a node not paused), else
// the earliest due timer fires, else time passes. Ties go to the node
// first in the canonical naming (w.canon). The deviation search counts
// every other choice.
func (w *xWorld) next() choice {
	down := -1
	for i, n := range w.nodes {
		if n.r == nil && (down < 0 || w.canon[i] < w.canon[down]) {
			down = i
		}
	}
	if down >= 0 {
		return choice{xRestart, down, 0} // a supervisor restarts it
	}
	for i, x := range w.net {
		if to := w.index(x.m.To); !x.delayed && !w.paused(to) {
			return choice{xDeliver, to, i}
		}
	}
	best, at := -1, time.Duration(0)
	for i, n := range w.nodes {
		if !w.running(i) || n.local(w.now) < n.r.nextDeadline() {
			continue
		}
		if t := n.realAt(0, n.r.nextDeadline()); best < 0 || t < at || t == at && w.canon[i] < w.canon[best] {
			best, at = i, t
		}
	}
	if best >= 0 {
		return choice{xTick, best, 0}
	}
	return choice{xAdvance, -1, 0}
}

// nextInstant returns the first real instant after now at which a timing
// condition of some node changes: a timer falls due, a refusal window
// (leaderContact + ElectionMin) ends or comes within SuccessionDelay of
// its end, a pre-vote promise or its restraint ends, a lease, a cut or a
// pause ends, a leader's latest acknowledgement gets too old for a
// handover or for the peer to rank as fresh, or a stamp in flight to a
// leader stops lying in its future. Between such instants nothing the
// cores decide depends on time; the explorer only stops at them.
func (w *xWorld) nextInstant() (time.Duration, bool) {
	best := time.Duration(math.MaxInt64)
	consider := func(t time.Duration) {
		if t > w.now && t < best {
			best = t
		}
	}
	for i, n := range w.nodes {
		consider(n.facts.leaseEnd)
		consider(w.cutEnd[i])
		consider(w.pauseEnd[i])
		r := n.r
		if r == nil {
			continue
		}
		local := n.local(w.now)
		at := func(d time.Duration) {
			if d > local && d != math.MaxInt64 {
				consider(n.realAt(w.now, d))
			}
		}
		at(r.nextDeadline())
		at(r.backoffUntil) // its acknowledgements show its priority again (backoff.go)
		if r.promiseMatters(local) {
			at(r.promisedAt + r.promiseSpan()) // its pre-vote is free again (promise.go)
			at(r.boundUntil())                 // it may campaign again
		}
		if r.hasContact {
			at(r.leaderContact + r.cfg.ElectionMin)
			// From here a pre-vote is held to the window's end instead of
			// refused (deferPreVote).
			at(r.leaderContact + r.cfg.ElectionMin - r.cfg.SuccessionDelay)
		}
		if r.role == roleLeader {
			at(r.leaseUntil())
			for _, s := range r.acked {
				at(s + r.cfg.ElectionMin)
				at(s + 2*r.cfg.Heartbeat) // the peer stops being fresh (succession)
			}
		}
		for _, x := range w.net {
			if x.m.To == n.id && x.m.Kind == MsgHeartbeatResp {
				at(time.Duration(x.m.Stamp))
			}
		}
	}
	return best, best != math.MaxInt64
}

// outcome is what a choice led to.
type outcome uint8

const (
	outOK      outcome = iota
	outNoop            // nothing happened (a handover with no target): not a new state
	outBound           // the state lies beyond a bound: not explored
	outViolate         // an invariant broke: the counterexample
)

// apply does c on a copy of w. It returns the new state, the outcome, and
// for a violation what broke.
func (w *xWorld) apply(c choice, b xBounds) (*xWorld, outcome, string) {
	w = w.clone()
	var bad string
	switch c.kind {
	case xDeliver, xDup:
		x := w.net[c.arg]
		if c.kind == xDup {
			w.dups++
			w.net[c.arg].delayed = true
		} else {
			w.removeMsg(c.arg)
		}
		bad = w.run(c.node, func(r *raft, now time.Duration) { r.step(now, x.m) })
	case xDrop:
		w.removeMsg(c.arg)
	case xDelay:
		w.net[c.arg].delayed = true
	case xTick:
		bad = w.run(c.node, func(r *raft, now time.Duration) { r.tick(now) })
	case xAdvance:
		w.now, _ = w.nextInstant()
	case xCrash:
		w.crash(c.node)
	case xRestart:
		n := w.own(c.node)
		if err := w.startProcess(n); err != nil {
			return w, outViolate, err.Error()
		}
		bad = w.run(c.node, func(*raft, time.Duration) {})
	case xStepDown, xClose:
		var err error
		bad = w.run(c.node, func(r *raft, now time.Duration) { err = r.transferLeadership(now) })
		if err != nil {
			return w, outNoop, ""
		}
		w.handovers++
		if c.kind == xClose {
			w.crash(c.node)
		}
	case xPause:
		w.pauses++
		w.pauseEnd[c.node] = w.now + w.nodes[c.node].cfg.ElectionMax
	case xCut:
		w.cuts++
		w.cutEnd[c.node] = w.now + w.nodes[c.node].cfg.ElectionMax
	}
	if bad != "" {
		return w, outViolate, bad
	}
	if len(w.net) > b.inFlight {
		return w, outBound, ""
	}
	for _, n := range w.nodes {
		if n.r != nil && n.r.term > b.maxTerm {
			return w, outBound, ""
		}
	}
	return w, outOK, ""
}

func (w *xWorld) removeMsg(i int) { w.net = append(w.net[:i], w.net[i+1:]...) }

// crash stops node i's process.
func (w *xWorld) crash(i int) {
	n := w.own(i)
	w.crashes++
	n.r = nil
	w.safety(nil).crashed(n.id, &n.facts, w.now)
}

// safety returns the invariant checker over w; fail, when set, records
// the first violation.
func (w *xWorld) safety(bad *string) *safety {
	return &safety{leaders: w.leaders, leadAgainOK: w.leadAgainOK, fail: func(format string, args ...any) {
		if bad != nil && *bad == "" {
			*bad = fmt.Sprintf(format, args...)
		}
	}, config: func(id string) (Config, bool) {
		if i := w.index(id); i >= 0 {
			return w.nodes[i].cfg.withDefaults(), true
		}
		return Config{}, false
	}}
}

// run lets node i's core do f at now, sends its outbox and checks the
// invariants. It returns the first violation, or "".
func (w *xWorld) run(i int, f func(r *raft, now time.Duration)) string {
	n := w.own(i)
	takeovers := n.r.stats.PriorityTakeovers
	f(n.r, n.local(w.now))
	if _, ok := w.leaders[n.r.term]; n.r.role == roleLeader && !ok {
		w.leaders = maps.Clone(w.leaders) // the safety check adds to it; others share it
	}
	bad := n.store.bad
	for _, e := range n.r.takeEvents() {
		if e.kind == evError && bad == "" {
			bad = fmt.Sprintf("node %s reported: %v", n.id, e.err)
		}
	}
	sent := n.r.takeMsgs()
	for _, m := range sent {
		j := w.index(m.To)
		if j < 0 || w.isolated(i) {
			continue
		}
		w.seq++
		w.net = append(w.net, xMsg{m: m, seq: w.seq})
	}
	view := stepView{
		id: n.id, r: n.r, saved: n.store.hs, now: w.now, local: n.local(w.now),
		realAt: func(d time.Duration) time.Duration { return n.realAt(w.now, d) },
		sent:   sent, handedOver: n.r.stats.PriorityTakeovers > takeovers,
	}
	others := func(yield func(string, time.Duration) bool) {
		for _, o := range w.nodes {
			if o != n && !yield(o.id, o.facts.leaseEnd) {
				return
			}
		}
	}
	w.safety(&bad).step(view, &n.facts, others)
	return bad
}
