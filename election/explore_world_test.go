package election

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"time"
)

// This file is the explorer's world: the real cores of a small cluster,
// their clocks, storage and the messages in flight, cloned whole at every
// choice. explore_choice_test.go applies the choices, explore_test.go
// searches.

// lowSource is the explorer's randomness: every draw of the core is the
// lowest of its range (randomBetween(lo, hi) returns lo, or lo + 1 ns when
// hi-lo+1 is a power of two). The explorer lets a timer fire at any
// instant after it is due, so the lowest draw plus lateness covers every
// draw. It has no state, so clones share it.
type lowSource struct{}

func (lowSource) Uint64() uint64 { return 1 }

// lowRand is the *rand.Rand every explored core uses.
var lowRand = rand.New(lowSource{})

// xStore is a node's Storage in the explorer: the saved state and every
// vote ever saved by term, judged on each Save like the simulator's.
type xStore struct {
	id    string
	hs    HardState
	votes map[uint64]string
	bad   string // the first violation a save showed
}

func (s *xStore) Load() (HardState, error) { return s.hs, nil }

func (s *xStore) Save(hs HardState) error {
	if msg := saveViolation(s.id, s.hs, hs, s.votes); msg != "" && s.bad == "" {
		s.bad = msg
	}
	s.hs = hs
	if hs.VotedFor != "" && s.votes[hs.Term] != hs.VotedFor {
		s.votes = maps.Clone(s.votes) // shared with the states it was copied from
		s.votes[hs.Term] = hs.VotedFor
	}
	return nil
}

// clone copies s; the copies share the votes until one saves a new one.
func (s *xStore) clone() *xStore {
	c := *s
	return &c
}

// xNode is one node: a process (r, nil while down) with its clock, and
// what outlives the process: its storage and its invariant facts.
type xNode struct {
	id    string
	cfg   Config
	r     *raft
	store *xStore
	hooks hooks // its vote hooks (exploreHooks)
	// The process clock reads 0 at real instant start and runs at rate:
	// like SystemClock, a new process counts from zero again.
	start time.Duration
	rate  float64
	facts nodeFacts
}

// priority is the node's configured priority as its acknowledgements
// show it outside a pause (ackPriority): 0 for a witness.
func (n *xNode) priority() uint32 {
	c := n.cfg.withDefaults()
	if c.Witness {
		return 0
	}
	return c.Priority
}

// local returns the node's clock at real time t.
func (n *xNode) local(t time.Duration) time.Duration {
	return time.Duration(float64(t-n.start) * n.rate)
}

// realAt returns the first real instant, not before now, at which the
// node's clock reads at least d.
func (n *xNode) realAt(now, d time.Duration) time.Duration {
	if d == math.MaxInt64 {
		return math.MaxInt64
	}
	t := max(n.start+time.Duration(math.Ceil(float64(d)/n.rate)), now)
	for n.local(t) < d {
		t++
	}
	for t > now && n.local(t-1) >= d {
		t--
	}
	return t
}

// xMsg is a message in flight. A delayed one is not the network's next
// delivery (the deviation search, explore_test.go): a duplicate, or one
// the search chose to hold back.
type xMsg struct {
	m       Message
	seq     uint64 // send order
	delayed bool
}

// xWorld is one state of the explored cluster.
type xWorld struct {
	now   time.Duration // real time
	nodes []*xNode
	net   []xMsg // in flight, in send order
	seq   uint64
	// cutEnd[i] is the real instant until which what node i sends is lost
	// (its outgoing links are cut): a cut lasts ElectionMax.
	cutEnd [maxNodes]time.Duration
	// pauseEnd[i] is the real instant until which node i's process is
	// paused: it handles nothing, its messages wait, its clock runs on and
	// it still believes what it believed (a lease too).
	pauseEnd [maxNodes]time.Duration

	leaders map[uint64]string // term -> its leader (the safety check's); shared, copied before a write
	owned   uint64            // nodes this state has copied from the one it was cloned from
	// canon[i] is node i's name in the canonical encoding (encoder.key
	// sets it): the healthy schedule breaks ties by it, so that it does
	// the same in every renaming of a state.
	canon       [maxNodes]uint8
	leadAgainOK bool // -explore.leadonce=false
	// What the search spent of its budgets on this path.
	crashes, handovers, dups, cuts, pauses int
}

// behindPosition is what CurrentPosition says on a node whose data is
// behind (-explore.behind); every other node's GrantVote refuses a
// candidate there, as an application's hooks refuse one that would lose
// data.
const behindPosition = "behind"

// exploreHooks are node i's vote hooks: a node whose data is behind gives
// behindPosition, the others an empty position; every node grants only
// an empty position.
func exploreHooks(behind bool) hooks {
	if !behind {
		return hooks{
			position: simHooks.position,
			grant:    func(pos []byte) bool { return len(pos) == 0 },
		}
	}
	return hooks{
		position: func() ([]byte, error) { return []byte(behindPosition), nil },
		grant:    func(pos []byte) bool { return len(pos) == 0 },
	}
}

// newWorld builds the start state: fresh nodes a, b, c ... whose clocks
// run at rates (one per node), all reading 0 at real time 0, with
// priorities prios (by node, 0 for a witness; nil: every node the default)
// and whose data is behind where behind says so (nil: nobody's).
func newWorld(cfg Config, rates []float64, prios []uint32, behind []bool) *xWorld {
	w := &xWorld{leaders: map[uint64]string{}}
	ids := make([]string, len(rates))
	for i := range ids {
		ids[i] = string(rune('a' + i))
	}
	for i, id := range ids {
		w.canon[i] = uint8(i)
		c := cfg
		c.Cluster, c.ID = "explore", id
		c.Peers = slices.DeleteFunc(slices.Clone(ids), func(p string) bool { return p == id })
		if i < len(prios) {
			c.Priority, c.Witness = prios[i], prios[i] == 0
		}
		n := &xNode{id: id, cfg: c, rate: rates[i], store: &xStore{id: id, votes: map[uint64]string{}},
			hooks: exploreHooks(i < len(behind) && behind[i])}
		w.nodes = append(w.nodes, n)
		if err := w.startProcess(n); err != nil {
			panic(err)
		}
	}
	return w
}

// startProcess starts a process of n at now, with a clock that reads 0.
func (w *xWorld) startProcess(n *xNode) error {
	n.start = w.now
	c := n.cfg
	c.Storage = n.store
	r, err := newRaft(c, n.store, n.hooks, 0, 0)
	if err != nil {
		return fmt.Errorf("explore: node %s could not start: %w", n.id, err)
	}
	r.rng = lowRand
	r.resetElectionTimer(0) // the draw newRaft made, again with lowRand
	r.takeEvents()
	n.r = r
	return nil
}

// clone returns a copy of w that shares its nodes until own copies one:
// a choice changes one node, the others stay shared between the states.
func (w *xWorld) clone() *xWorld {
	c := *w
	c.nodes = slices.Clone(w.nodes)
	c.net = append(make([]xMsg, 0, len(w.net)+len(w.nodes)), w.net...)
	c.owned = 0
	return &c
}

// own returns node i of w, copied first if w still shares it.
func (w *xWorld) own(i int) *xNode {
	if w.owned&(1<<i) != 0 {
		return w.nodes[i]
	}
	n := *w.nodes[i]
	n.store = n.store.clone()
	if n.r != nil {
		n.r = cloneRaft(n.r, n.store)
	}
	w.nodes[i] = &n
	w.owned |= 1 << i
	return &n
}

// cloneRaft copies a core between steps (outbox and events empty). The
// candidacy may be the very map of the current grants (becomeCandidate
// shares them): the copy shares its copy the same way.
func cloneRaft(r *raft, store Storage) *raft {
	c := *r
	c.store = store
	c.granted = maps.Clone(r.granted)
	c.rejected = maps.Clone(r.rejected)
	if sameMap(r.candidacy, r.granted) {
		c.candidacy = c.granted
	} else {
		c.candidacy = maps.Clone(r.candidacy)
	}
	c.acked = maps.Clone(r.acked)
	c.streak = maps.Clone(r.streak)
	c.prio = maps.Clone(r.prio)
	c.deferred = slices.Clone(r.deferred)
	c.msgs, c.events = nil, nil
	return &c
}

// sameMap reports whether a and b are the same (non-nil) map.
func sameMap(a, b map[string]bool) bool {
	return a != nil && b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// isolated reports whether what node i sends is lost.
func (w *xWorld) isolated(i int) bool { return w.cutEnd[i] > w.now }

// paused reports whether node i's process is paused.
func (w *xWorld) paused(i int) bool { return w.pauseEnd[i] > w.now }

// running reports whether node i has a process that handles things now.
func (w *xWorld) running(i int) bool { return w.nodes[i].r != nil && !w.paused(i) }

// maxNodes is the largest cluster the explorer takes.
const maxNodes = 8

// index returns the index of the node with id, or -1.
func (w *xWorld) index(id string) int {
	if len(id) == 1 && int(id[0]-'a') < len(w.nodes) {
		return int(id[0] - 'a') // the names newWorld gives
	}
	for i, n := range w.nodes {
		if n.id == id {
			return i
		}
	}
	return -1
}
