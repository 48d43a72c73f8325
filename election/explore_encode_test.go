package election

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The explorer's state identity: a canonical encoding of everything that
// decides what a state can still do and what the invariants will say, so
// that two states with the same encoding have the same futures.
//
//   - Time is relative: every instant of a node's clock is encoded as its
//     distance from that clock's reading now (a stamp in flight from the
//     clock of the process that made it, absolute while that node is down,
//     since its next process counts from zero), a lease, pause or cut end
//     as its distance from real now; all to the microsecond (quantum).
//   - Values whose exact size no longer matters are clamped: a refusal
//     window that has ended, a timer that is due (in the depth search),
//     the election instant of a leader that has its quorum, an
//     acknowledgement below the quorum stamp, a stamp its leader can never
//     count again.
//   - With -explore.symmetry, the encoding is the least over every
//     renaming of the nodes. It is off by default: the core breaks a few
//     ties by name (the handover target among equally recent
//     acknowledgements, the order of a broadcast), so a renamed state is
//     not always equivalent.
//   - The core's statistics and its record of what it reported are left
//     out: they never change what it does.

// raftFields lists every field of raft and says how the explorer treats
// it; TestExplore_KnowsEveryField fails when the core gains a field, so
// that clone and encode are reviewed for it.
var raftFields = map[string]string{
	"id": "constant", "peers": "constant", "quorum": "constant", "cfg": "constant",
	"rng": "lowRand", "store": "cloned", "hooks": "constant", "lease": "constant",
	"role": "encoded", "term": "encoded", "vote": "encoded", "leader": "encoded",
	"electionDeadline": "encoded", "leaderContact": "encoded", "hasContact": "encoded",
	"retries": "encoded", "voteRequest": "encoded", "askedAgain": "encoded",
	"candidacy": "encoded", "granted": "encoded", "rejected": "encoded",
	"heartbeatDue": "encoded", "electedAt": "encoded", "acked": "encoded",
	"reportedLeader": "events only", "reportedTerm": "events only",
	"msgs": "empty between steps", "events": "empty between steps", "stats": "statistics",
	"leaseGains": "events only", "now": "events only",
	"streak": "encoded", "prio": "encoded", "rank": "encoded", "deferred": "encoded", "deferUntil": "encoded",
	"backoffUntil": "encoded", "backoff": "encoded",
	"promisedTo": "encoded", "promisedTerm": "encoded", "promisedAt": "encoded", "restrainedAt": "encoded",
}

// raftExtras are fields that some versions of the core have and others
// lack (the explorer also runs on the code before issue 12's fixes, to
// show it finds them): encoded by reflection, by name, when present. A
// kind "value" field is encoded as it is; "timer" is the instant of the
// node's clock at which a timer falls due; "if F" encodes it only while
// the bool field F is set (otherwise it is dead).
var raftExtras = map[string]string{
	"leaseHeld": "value", "leaseTerm": "value if leaseHeld", "leaseDeadline": "timer if leaseHeld",
	"ahead": "value",
}

// unknownRaftFields returns the fields of raft that neither raftFields nor
// raftExtras know.
func unknownRaftFields() []string {
	var out []string
	t := reflect.TypeFor[raft]()
	for i := range t.NumField() {
		name := t.Field(i).Name
		if _, ok := raftFields[name]; !ok && raftExtras[name] == "" {
			out = append(out, name)
		}
	}
	return out
}

// extraField is a field of raftExtras that this core has.
type extraField struct {
	index int
	timer bool
	when  int // index of the bool field it depends on; -1 none
}

var extraFields = func() []extraField {
	var out []extraField
	t := reflect.TypeFor[raft]()
	for i := range t.NumField() {
		kind, cond, _ := strings.Cut(raftExtras[t.Field(i).Name], " if ")
		if kind == "" {
			continue
		}
		x := extraField{index: i, timer: kind == "timer", when: -1}
		if f, ok := t.FieldByName(cond); ok {
			x.when = f.Index[0]
		}
		out = append(out, x)
	}
	return out
}()

// extras encodes the raftExtras fields of r.
func (e *encoder) extras(b []byte, r *raft, local time.Duration) []byte {
	v := reflect.ValueOf(r).Elem()
	for _, x := range extraFields {
		f := v.Field(x.index)
		switch {
		case x.when >= 0 && !v.Field(x.when).Bool():
			b = append(b, 0xfc)
		case x.timer:
			b = e.timer(b, time.Duration(f.Int()), local)
		case f.Kind() == reflect.Bool:
			b = e.bool(b, f.Bool())
		case f.CanInt():
			b = e.int(b, f.Int())
		case f.CanUint():
			b = e.uint(b, f.Uint())
		case f.Kind() == reflect.String:
			b = e.id(b, f.String())
		default:
			panic("explore: cannot encode raft." + v.Type().Field(x.index).Name)
		}
	}
	return b
}

var exploreSeed = maphash.MakeSeed()

// encoder builds canonical encodings; one per search goroutine.
type encoder struct {
	w    *xWorld
	b    xBounds
	perm []int // perm[i]: the name node i gets
	// self >= 0 makes a signature of node self: names only say whether
	// they are self, another node or none, so it is the same under every
	// renaming.
	self  int
	buf   []byte
	best  []byte
	sigs  [][]byte
	order []int
	spans [][2]int // messages of the sorted multiset in buf2
	buf2  []byte
}

func newEncoder() *encoder { return &encoder{self: -1} }

// key returns the hash of w's canonical encoding: the least encoding over
// the renamings that order the nodes by their signatures (the nodes with
// equal signatures are tried in every order, which gives the same least
// encoding for every renaming of w). It leaves the renaming in w.canon.
func (e *encoder) key(w *xWorld, b xBounds) uint64 {
	e.w, e.b = w, b
	n := len(w.nodes)
	if len(e.perm) != n {
		e.perm = make([]int, n)
	}
	if !b.symmetry {
		for i := range e.perm {
			e.perm[i] = i
		}
		e.best = e.world(e.best[:0])
		return maphash.Bytes(exploreSeed, e.best)
	}
	for len(e.sigs) < n {
		e.sigs = append(e.sigs, nil)
	}
	e.order = e.order[:0]
	for i, nd := range w.nodes {
		e.self = i
		e.sigs[i] = e.node(e.sigs[i][:0], nd)
		e.order = append(e.order, i)
	}
	e.self = -1
	slices.SortStableFunc(e.order, func(i, j int) int { return bytes.Compare(e.sigs[i], e.sigs[j]) })
	e.best = e.best[:0]
	e.arrange(0)
	return maphash.Bytes(exploreSeed, e.best)
}

// arrange names the nodes from position pos of the signature order on,
// trying every order within a group of equal signatures, and keeps the
// least encoding.
func (e *encoder) arrange(pos int) {
	n := len(e.order)
	if pos == n {
		e.buf = e.world(e.buf[:0])
		if len(e.best) == 0 || bytes.Compare(e.buf, e.best) < 0 {
			e.best = append(e.best[:0], e.buf...)
			for i, p := range e.perm {
				e.w.canon[i] = uint8(p)
			}
		}
		return
	}
	end := pos + 1
	for end < n && bytes.Equal(e.sigs[e.order[end]], e.sigs[e.order[pos]]) {
		end++
	}
	// Name the group's nodes pos..end-1 in every order.
	group := slices.Clone(e.order[pos:end])
	var place func(k int, used int)
	place = func(k int, used int) {
		if k == len(group) {
			e.arrange(end)
			return
		}
		for i, node := range group {
			if used&(1<<i) == 0 {
				e.perm[node] = pos + k
				place(k+1, used|1<<i)
			}
		}
	}
	place(0, 0)
}

func (e *encoder) int(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }
func (e *encoder) uint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func (e *encoder) bool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// id encodes a node name under the current renaming (0 for none).
func (e *encoder) id(b []byte, id string) []byte {
	i := e.w.index(id)
	switch {
	case i < 0:
		return append(b, 0)
	case e.self >= 0 && i == e.self:
		return append(b, 1)
	case e.self >= 0:
		return append(b, 2)
	}
	return append(b, byte(e.perm[i]+1))
}

// ids encodes a set of node names, nil apart from empty.
func (e *encoder) ids(b []byte, set map[string]bool) []byte {
	if set == nil {
		return append(b, 0xff)
	}
	var bits uint64
	for id := range set {
		i := e.w.index(id)
		switch {
		case i < 0:
		case e.self >= 0 && i == e.self:
			bits |= 1
		case e.self >= 0:
			bits += 2
		default:
			bits |= 1 << e.perm[i]
		}
	}
	return e.uint(b, bits)
}

func (e *encoder) world(b []byte) []byte {
	w := e.w
	n := len(w.nodes)
	b = e.uint(b, uint64(w.crashes))
	b = e.uint(b, uint64(w.handovers))
	b = e.uint(b, uint64(w.dups))
	b = e.uint(b, uint64(w.cuts))
	b = e.uint(b, uint64(w.pauses))
	for name := range n {
		b = e.rel(b, w.cutEnd[e.inverse(name)], w.now, true)
		b = e.rel(b, w.pauseEnd[e.inverse(name)], w.now, true)
	}
	for t := uint64(1); t <= e.b.maxTerm; t++ {
		b = e.id(b, w.leaders[t])
	}
	for name := range n {
		b = e.node(b, w.nodes[e.inverse(name)])
	}
	return e.network(b)
}

// rel encodes instant d of a clock that reads local now, clamped to 0 once
// it has passed when clamp is set.
func (e *encoder) rel(b []byte, d, local time.Duration, clamp bool) []byte {
	if clamp && d <= local {
		return append(b, 0)
	}
	return e.int(b, quantum(d-local))
}

// quantum rounds a span of time to the microsecond. Clocks run at rates
// of real time in whole nanoseconds, so the same schedule reached two ways
// can differ by a nanosecond of rounding; without this the search would
// keep both, and which states it reaches would depend on its order.
// Timings closer than a microsecond count as equal (the cores' timings are
// tens of milliseconds apart).
func quantum(d time.Duration) int64 {
	return int64(d.Round(time.Microsecond) / time.Microsecond)
}

// timer encodes the instant d at which a timer of a clock that reads local
// now falls due. The depth search lets a due timer fire at any later
// instant, so once due it only matters that it is; the deviation search's
// healthy schedule fires the timer that fell due first: exact.
func (e *encoder) timer(b []byte, d, local time.Duration) []byte {
	if d == never {
		return append(b, 0xfa) // a witness's election timer: not a countdown
	}
	return e.rel(b, d, local, e.b.deviations == 0)
}

func (e *encoder) node(b []byte, n *xNode) []byte {
	w := e.w
	b = e.uint(b, uint64(n.rate*1e6))
	b = e.uint(b, n.store.hs.Term)
	b = e.id(b, n.store.hs.VotedFor)
	for t := uint64(1); t <= e.b.maxTerm; t++ {
		b = e.id(b, n.store.votes[t])
	}
	f := n.facts
	b = e.uint(b, f.maxTerm)
	b = e.rel(b, f.leaseEnd, w.now, true)
	b = e.uint(b, f.leading)
	b = e.uint(b, f.left)
	r := n.r
	if r == nil {
		return append(b, 0)
	}
	local := n.local(w.now)
	b = append(b, 1, byte(r.role))
	b = e.uint(b, r.term)
	b = e.id(b, r.vote)
	b = e.id(b, r.leader)
	b = e.bool(b, r.hasContact)
	if r.hasContact {
		b = e.rel(b, r.leaderContact+r.cfg.ElectionMin, local, true)
	}
	b = e.uint(b, uint64(min(r.retries, 6)))
	b = e.extras(b, r, local)
	b = e.succession(b, r, local)
	b = e.ids(b, r.candidacy)
	b = e.bool(b, sameMap(r.candidacy, r.granted))
	b = e.ids(b, r.granted)
	b = e.ids(b, r.rejected)
	if r.role == roleCandidate {
		b = e.bool(b, r.voteRequest.Transfer)
		b = e.uint(b, r.voteRequest.Term)
		b = e.bool(b, r.askedAgain)
	}
	if r.role != roleLeader {
		return e.timer(b, r.electionDeadline, local)
	}
	b = e.timer(b, r.heartbeatDue, local)
	b = e.electedAt(b, n, local)
	b = e.uint(b, uint64(len(r.acked)))
	// Once a majority has acknowledged, an acknowledgement below the
	// quorum stamp never counts again for the lease (acknowledgements only
	// grow; its stamps still in flight are stale): only its freshness for
	// the succession matters (ack).
	pivot := time.Duration(math.MinInt64)
	if len(r.acked) >= r.quorum-1 {
		pivot = r.quorumStamp()
	}
	if e.self >= 0 {
		var acks [][]byte // a multiset: sorted
		for p := range r.acked {
			acks = append(acks, e.ack(nil, r, p, pivot, local))
		}
		slices.SortFunc(acks, bytes.Compare)
		for _, a := range acks {
			b = append(b, a...)
		}
		return b
	}
	for name := range w.nodes {
		p := w.nodes[e.inverse(name)].id
		if _, ok := r.acked[p]; ok {
			b = e.ack(append(b, byte(name+1)), r, p, pivot, local)
		}
	}
	return b
}

// succession encodes the core's succession state (succession.go): the
// pause after a lost handover election (backoff.go), its rank, the
// pre-votes it holds and when they fall due, the priorities it learnt (on
// a leader: cleared at each election), and on a leader the
// instant each peer's run of acknowledgements becomes stable, clamped once
// it has, for the peers that may be handed leadership for their priority
// (mayPrefer). For the others it never matters (encoded, it made every
// round of a steady leader a new state for PriorityStablePeriod).
func (e *encoder) succession(b []byte, r *raft, local time.Duration) []byte {
	if r.priority() > DefaultPriority {
		// The pause after a lost handover election (backoff.go) changes
		// only the priority of a node above the default: for the others
		// it is dead (encoded, it made a steady leader's every round a
		// new state for PriorityStablePeriod after such a loss).
		b = e.rel(b, r.backoffUntil, local, true)
		b = e.uint(b, uint64(r.backoff))
	}
	b = e.uint(b, uint64(r.rank))
	b = e.uint(b, uint64(len(r.deferred)))
	for _, m := range r.deferred {
		b = e.msg(b, m)
	}
	if len(r.deferred) > 0 {
		b = e.timer(b, r.deferUntil, local)
	}
	// A pre-vote promise (promise.go): its instants (the promise's and
	// its restraint's starts) matter while it binds or may hold back the
	// node's campaign; after that, a promise to a peer for a term above
	// the node's own is still remembered, because a grant again to that
	// peer does not restart its restraint (promisedAgain); dead otherwise.
	switch {
	case r.promiseMatters(local):
		b = e.id(append(b, 1), r.promisedTo)
		b = e.uint(b, r.promisedTerm-r.term)
		b = e.rel(b, r.promisedAt, local, false)
		b = e.rel(b, r.restrainedAt, local, false)
	case r.promisedAgain(r.promisedTo, r.promisedTerm):
		b = e.id(append(b, 2), r.promisedTo)
		b = e.uint(b, r.promisedTerm-r.term)
	default:
		b = append(b, 0)
	}
	if r.role != roleLeader {
		return b // prio and streak are a leader's, cleared when it is elected
	}
	w := e.w
	if e.self >= 0 {
		for _, v := range slices.Sorted(maps.Values(r.prio)) {
			b = e.uint(b, uint64(v)+1)
		}
		b = append(b, 0xfb)
		var due []time.Duration
		for p, s := range r.streak {
			if e.mayPrefer(r, p) {
				due = append(due, s)
			}
		}
		for _, s := range slices.Sorted(slices.Values(due)) {
			b = e.rel(b, s+r.cfg.PriorityStablePeriod, local, true)
		}
		return b
	}
	for name := range w.nodes {
		id := w.nodes[e.inverse(name)].id
		v, ok := r.prio[id]
		b = e.bool(b, ok)
		b = e.uint(b, uint64(v))
		if s, ok := r.streak[id]; ok && e.mayPrefer(r, id) {
			b = e.rel(append(b, 1), s+r.cfg.PriorityStablePeriod, local, true)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// mayPrefer reports whether leader r may ever hand leadership to peer p
// for its priority, so that p's run of acknowledgements matters: p's own
// priority exceeds r's. What p's acknowledgements say (r.prio) is not
// enough: during the pause after a lost handover election (backoff.go) p
// acknowledges with priority 1, and when the pause ends the run that began
// during it decides when r hands over (merged, two states with handovers a
// round apart counted as one: TestExplore_EncodingKeepsAStreakThatMayCount).
func (e *encoder) mayPrefer(r *raft, p string) bool {
	i := e.w.index(p)
	return i >= 0 && e.w.nodes[i].priority() > r.priority()
}

// ack encodes leader r's latest acknowledgement from peer p. Below the
// quorum stamp only the succession still reads it (succession.go): while
// it is within 2 × Heartbeat of now the peer is fresh, so that instant is
// encoded, clamped once passed; and for a peer that may be handed
// leadership for its priority (mayPrefer), whether an acknowledgement of
// a stamp still in flight continues its run (noteAck: less than
// 2 × Heartbeat after this one), so while such a stamp is in flight it is
// encoded exactly.
func (e *encoder) ack(b []byte, r *raft, p string, pivot, local time.Duration) []byte {
	s, hb := r.acked[p], r.cfg.Heartbeat
	switch {
	case s >= pivot:
		return e.rel(append(b, 1), s, local, false)
	case e.mayPrefer(r, p) && e.stampInFlight(r.id, p, s, s+2*hb):
		return e.rel(append(b, 2), s, local, false)
	}
	return e.rel(append(b, 0), s+2*hb, local, true)
}

// stampInFlight reports whether a heartbeat of leader to peer, or peer's
// acknowledgement of one, stamped in (from, to), is in flight.
func (e *encoder) stampInFlight(leader, peer string, from, to time.Duration) bool {
	for _, x := range e.w.net {
		m := x.m
		hb := m.Kind == MsgHeartbeat && m.From == leader && m.To == peer
		resp := m.Kind == MsgHeartbeatResp && m.From == peer && m.To == leader
		if (hb || resp) && time.Duration(m.Stamp) > from && time.Duration(m.Stamp) < to {
			return true
		}
	}
	return false
}

// inverse returns the node that gets name j.
func (e *encoder) inverse(j int) int {
	for i, p := range e.perm {
		if p == j {
			return i
		}
	}
	return -1
}

// electedAt encodes a leader's election instant. Until a majority has
// acknowledged it, check-quorum counts from it: exact. After, it only
// screens the stamps that come back (s >= electedAt), and the stamps in
// flight below it are encoded as stale: nothing is left to say.
func (e *encoder) electedAt(b []byte, n *xNode, local time.Duration) []byte {
	r := n.r
	if len(r.acked) < r.quorum-1 {
		return e.rel(b, r.electedAt, local, false)
	}
	return append(b, 0xfe)
}

// network encodes the messages in flight: those not held back in send
// order (the order the deviation search delivers them in), the others as
// a sorted multiset.
func (e *encoder) network(b []byte) []byte {
	w := e.w
	e.buf2, e.spans = e.buf2[:0], e.spans[:0]
	for _, x := range w.net {
		if !x.delayed && e.b.deviations > 0 {
			b = append(e.msg(append(b, 1), x.m), 0xfd)
			continue
		}
		from := len(e.buf2)
		e.buf2 = e.msg(e.buf2, x.m)
		e.spans = append(e.spans, [2]int{from, len(e.buf2)})
	}
	slices.SortFunc(e.spans, func(x, y [2]int) int { return bytes.Compare(e.buf2[x[0]:x[1]], e.buf2[y[0]:y[1]]) })
	b = append(b, 2)
	for _, sp := range e.spans {
		b = append(append(b, e.buf2[sp[0]:sp[1]]...), 0xfd)
	}
	return b
}

func (e *encoder) msg(b []byte, m Message) []byte {
	b = append(b, byte(m.Kind))
	b = e.id(b, m.From)
	b = e.id(b, m.To)
	b = e.uint(b, m.Term)
	b = e.bool(b, m.Granted)
	b = e.bool(b, m.Transfer)
	b = e.uint(b, uint64(len(m.Position)))
	b = append(b, m.Position...)
	b = e.uint(b, uint64(m.Rank))
	b = e.uint(b, uint64(m.Priority))
	b = e.bool(b, m.Witness)
	return e.stamp(b, m)
}

// stamp encodes the stamp of a heartbeat or its echo: an instant of the
// clock of the leader that sent the heartbeat (the origin). While the
// origin's process runs, a stamp it could still count (not in its past,
// or within [electedAt, now] of its leadership and above the
// acknowledgement it holds from that peer) is relative to its clock. One
// it can never count again is stale: only its value matters, to a later
// process of the origin whose clock counts from zero again (and nothing
// when no crash is left in the budget). While the origin is down the
// value is what counts.
func (e *encoder) stamp(b []byte, m Message) []byte {
	origin, peer := m.From, m.To
	if m.Kind == MsgHeartbeatResp {
		origin, peer = m.To, m.From
	}
	i := e.w.index(origin)
	if m.Stamp == 0 || i < 0 || e.w.nodes[i].r == nil {
		return e.int(append(b, 0), m.Stamp)
	}
	o := e.w.nodes[i]
	s, local := time.Duration(m.Stamp), o.local(e.w.now)
	if s <= local {
		acked, ok := o.r.acked[peer]
		if o.r.role != roleLeader || s < o.r.electedAt || ok && s <= acked {
			if e.w.crashes >= e.b.crashes {
				return append(b, 2)
			}
			return e.int(append(b, 3), m.Stamp)
		}
	}
	return e.int(append(b, 1), quantum(s-local))
}
