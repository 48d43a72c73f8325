package election

import (
	"math/rand/v2"
	"sync"
	"time"
)

// MemNetwork is an in-memory network for tests: Endpoint gives each node a
// Transport, and the fault methods drop, delay, duplicate and reorder
// messages and cut links, one way or both. It runs in real time; the
// deterministic simulator has a virtual-time network of its own.
type MemNetwork struct {
	mu        sync.Mutex
	endpoints map[string]*MemTransport
	cut       map[[2]string]bool // from, to
	loss      float64
	dup       float64
	delayMin  time.Duration
	delayMax  time.Duration
	rng       *rand.Rand
	timers    sync.WaitGroup
}

// NewMemNetwork returns a network with no faults; seed drives its
// randomness.
func NewMemNetwork(seed uint64) *MemNetwork {
	return &MemNetwork{
		endpoints: map[string]*MemTransport{},
		cut:       map[[2]string]bool{},
		rng:       rand.New(rand.NewPCG(seed, seed+1)),
	}
}

// Endpoint returns a new Transport for node id, replacing any earlier one
// (a restarted node).
func (nw *MemNetwork) Endpoint(id string) *MemTransport {
	t := &MemTransport{nw: nw, id: id}
	nw.mu.Lock()
	nw.endpoints[id] = t
	nw.mu.Unlock()
	return t
}

// Cut drops every message from `from` to `to` until Heal (a one-way
// partition).
func (nw *MemNetwork) Cut(from, to string) {
	nw.mu.Lock()
	nw.cut[[2]string{from, to}] = true
	nw.mu.Unlock()
}

// Isolate cuts id off from every other node, both ways.
func (nw *MemNetwork) Isolate(id string) {
	nw.mu.Lock()
	for other := range nw.endpoints {
		if other != id {
			nw.cut[[2]string{id, other}] = true
			nw.cut[[2]string{other, id}] = true
		}
	}
	nw.mu.Unlock()
}

// Heal removes every cut.
func (nw *MemNetwork) Heal() {
	nw.mu.Lock()
	clear(nw.cut)
	nw.mu.Unlock()
}

// SetFaults sets the probability of losing and of duplicating each
// message, and the range of the random delay (a random delay reorders).
func (nw *MemNetwork) SetFaults(loss, dup float64, delayMin, delayMax time.Duration) {
	nw.mu.Lock()
	nw.loss, nw.dup, nw.delayMin, nw.delayMax = loss, dup, delayMin, delayMax
	nw.mu.Unlock()
}

// route sends m on its way; false if m.To is no endpoint of the network
// (what a real transport says of an id that is not its peer).
func (nw *MemNetwork) route(m Message) bool {
	nw.mu.Lock()
	dst := nw.endpoints[m.To]
	if dst == nil {
		nw.mu.Unlock()
		return false
	}
	if nw.cut[[2]string{m.From, m.To}] || nw.rng.Float64() < nw.loss {
		nw.mu.Unlock()
		return true // lost on the way, as a datagram can be
	}
	copies := 1
	if nw.rng.Float64() < nw.dup {
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		delays[i] = nw.delayMin
		if nw.delayMax > nw.delayMin {
			delays[i] += time.Duration(nw.rng.Int64N(int64(nw.delayMax - nw.delayMin)))
		}
	}
	nw.mu.Unlock()
	for _, d := range delays {
		if d == 0 {
			dst.receive(m)
			continue
		}
		nw.timers.Add(1)
		time.AfterFunc(d, func() { defer nw.timers.Done(); dst.receive(m) })
	}
	return true
}

// Wait waits for delayed messages still in flight.
func (nw *MemNetwork) Wait() { nw.timers.Wait() }

// MemTransport is one node's Transport on a MemNetwork.
type MemTransport struct {
	nw      *MemNetwork
	id      string
	mu      sync.Mutex
	deliver func(Message)
	closed  bool
	// delivering is held shared while deliver runs, and by Close to wait
	// for those calls: no delivery after Close returns (the contract).
	delivering sync.RWMutex
}

var _ Transport = (*MemTransport)(nil)

// Start records deliver; report is unused (the memory network has no
// failures of its own to report).
func (t *MemTransport) Start(deliver func(Message), report func(error)) error {
	t.mu.Lock()
	t.deliver = deliver
	t.mu.Unlock()
	return nil
}

// Send routes m through the network (it may be lost, delayed or duplicated
// there); false once closed, and for an id that is not a peer: this node's
// own, or one the network has no endpoint for.
func (t *MemTransport) Send(m Message) bool {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed || m.To == t.id {
		return false
	}
	m.From = t.id // as an authenticating transport would
	return t.nw.route(m)
}

func (t *MemTransport) receive(m Message) {
	t.delivering.RLock()
	defer t.delivering.RUnlock()
	t.mu.Lock()
	deliver := t.deliver
	if t.closed {
		deliver = nil
	}
	t.mu.Unlock()
	if deliver != nil {
		deliver(m)
	}
}

// Close stops delivery and waits for the deliveries under way; idempotent.
func (t *MemTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.delivering.Lock() // the deliveries that began before closed was set
	t.delivering.Unlock()
	return nil
}
