package election

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// advCore models the events the core emits, in the order it emits them
// (raft.go): a loss before the state change away from leader, a gain
// after the change to leader, a loss and a new gain of the same term when
// a lease is renewed late, higher terms at any moment.
type advCore struct {
	rng    *rand.Rand
	state  State
	term   uint64
	held   bool
	leased uint64 // the held lease's term
	events []event
}

func (c *advCore) emit(e event) { c.events = append(c.events, e) }

func (c *advCore) lose() {
	if c.held {
		c.held = false
		c.emit(event{kind: evLease, term: c.leased, deadline: time.Duration(c.leased)})
	}
}

func (c *advCore) become(to State) {
	if to != c.state {
		c.emit(event{kind: evState, from: c.state, to: to, term: c.term})
		c.state = to
	}
}

// step emits one random burst of events.
func (c *advCore) step() {
	switch c.rng.IntN(9) {
	case 0: // campaign
		if c.state != StateLeader {
			c.term++
			c.become(StateCandidate)
			c.emit(event{kind: evLeader, term: c.term})
		}
	case 1: // won
		if c.state == StateCandidate {
			c.become(StateLeader)
			c.emit(event{kind: evLeader, leader: "me", term: c.term})
		}
	case 2, 3: // the first quorum of acks, or a late renewal
		if c.state == StateLeader {
			c.lose()
			c.held, c.leased = true, c.term
			c.emit(event{kind: evLease, held: true, term: c.term, deadline: time.Duration(c.term)})
		}
	case 4: // the deadline passed
		c.lose()
	case 5: // step-down (check-quorum, transfer)
		if c.state == StateLeader {
			c.lose()
			c.become(StateFollower)
			c.emit(event{kind: evLeader, term: c.term})
		}
	case 6: // a higher term
		c.term += 1 + uint64(c.rng.IntN(3))
		c.lose()
		c.become(StateFollower)
		c.emit(event{kind: evLeader, leader: "other", term: c.term})
	case 7:
		c.emit(event{kind: evLog, msg: "line"})
	case 8:
		c.emit(event{kind: evError, err: errors.New("election: adv")})
	}
}

// checkTold checks what the application was told against the contract:
// state changes chained from initial and ending in CLOSED, lease events
// paired and in order (never an older term), no lease held once the
// state told is not Leader, nothing after CLOSED but log lines.
func checkTold(t *testing.T, told []event, initial State) {
	t.Helper()
	state, held, closed := initial, false, false
	var leaseTerm uint64
	for i, e := range told {
		where := fmt.Sprintf("event %d %+v", i, e)
		switch e.kind {
		case evState:
			require.False(t, closed, "a state change after CLOSED: %s", where)
			require.Equal(t, state, e.from, "chain broken: %s", where)
			require.NotEqual(t, e.from, e.to, where)
			if e.from == StateLeader {
				require.False(t, held, "the lease still held when leaving leader: %s", where)
			}
			state, closed = e.to, e.to == StateClosed
		case evLease:
			require.False(t, closed, where)
			if e.held {
				require.False(t, held, "two gains: %s", where)
				require.GreaterOrEqual(t, e.term, leaseTerm, "a gain of an older term: %s", where)
				require.Equal(t, StateLeader, state, "a gain while not told leader: %s", where)
			} else {
				require.True(t, held, "a loss without a gain: %s", where)
				require.Equal(t, leaseTerm, e.term, "a loss of another term: %s", where)
			}
			held, leaseTerm = e.held, e.term
		case evLeader:
			require.False(t, closed, where)
		}
	}
	require.True(t, closed, "CLOSED was never told")
	require.False(t, held, "a gain never followed by its loss")
}

func TestAdversary_OverflowingQueueKeepsTheContract(t *testing.T) {
	// A consumer that stalls for whole bursts while the core emits
	// hundreds of interleaved lease, state and leader events, so that the
	// queue coalesces again and again; then Close while the queue is full
	// and the consumer is stuck in a callback. What the application is told
	// keeps the contract, and every event is told or counted dropped.
	seeds := 200
	if raceEnabled {
		seeds = 40
	}
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 7))
		core := &advCore{rng: rng, state: StateFollower}
		var gate sync.Mutex // held by the test: the consumer stalls
		var mu sync.Mutex
		var told []event
		d := newDispatcher(func() time.Duration { return 0 }, func(e event) {
			gate.Lock()
			gate.Unlock() //nolint:staticcheck // only a barrier
			mu.Lock()
			told = append(told, e)
			mu.Unlock()
		}, nil, StateFollower)
		pushed := 0
		for range 20 + rng.IntN(20) {
			stall := rng.IntN(3) > 0
			if stall {
				gate.Lock()
			}
			for range rng.IntN(3 * callbackQueueLimit) {
				core.step()
				for _, e := range core.events {
					d.push(e)
					pushed++
				}
				core.events = nil
			}
			if stall {
				gate.Unlock()
			}
		}
		// Close while full: the consumer blocks inside a callback.
		gate.Lock()
		for d.pending() < callbackQueueLimit {
			core.step()
			for _, e := range core.events {
				d.push(e)
				pushed++
			}
			core.events = nil
		}
		core.lose()
		final := append(core.events, event{kind: evState, to: StateClosed, term: core.term}, event{kind: evLog, msg: "closed"})
		d.stop(final...)
		d.push(event{kind: evLog, msg: "after stop"}) // discarded, not counted
		gate.Unlock()
		d.wait()

		mu.Lock()
		got := append([]event(nil), told...)
		mu.Unlock()
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkTold(t, got, StateFollower) })
		require.Equal(t, uint64(pushed+len(final)), uint64(len(got))+d.dropped.Load(), "seed %d: every event told or counted dropped", seed)
	}
}

func TestAdversary_CoreLeaseEventsUnderRandomSchedules(t *testing.T) {
	// The core of node a of three, driven by random schedules: ticks on
	// time or late (a pause), late and early acknowledgements, higher
	// terms from heartbeats and vote requests, TimeoutNow, StepDown. After
	// every call, the lease the events say is held is the core's own and
	// still holds; each loss follows one gain of its term, and comes before
	// the state change it belongs to.
	runs, calls := 300, 400
	if raceEnabled {
		runs = 60
	}
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 11))
		r := newTestRaft(t, "a", abc, nil)
		var now time.Duration
		var beats []Message // heartbeats a sent, answered later or never
		var asks []Message  // its (pre-)vote requests
		held, leaseTerm := false, uint64(0)
		for call := range calls {
			switch k := rng.IntN(10); {
			case k < 3: // a tick on time, or late: a pause
				now = max(now, r.nextDeadline())
				if rng.IntN(3) == 0 {
					now += time.Duration(rng.Int64N(int64(tMax)))
				}
				r.tick(now)
			case k < 5 && len(beats) > 0: // an acknowledgement
				m := beats[rng.IntN(len(beats))]
				now += time.Duration(rng.Int64N(int64(tHB)))
				r.step(now, Message{Kind: MsgHeartbeatResp, From: m.To, To: "a", Term: m.Term, Stamp: m.Stamp, Granted: true})
			case k < 7 && len(asks) > 0: // a grant
				m := asks[rng.IntN(len(asks))]
				kind := MsgVoteResp
				if m.Kind == MsgPreVote {
					kind = MsgPreVoteResp
				}
				r.step(now, Message{Kind: kind, From: m.To, To: "a", Term: m.Term, Granted: true})
			case k == 7: // a higher term: a heartbeat, a vote, a handover
				from := abc[1+rng.IntN(2)]
				kind := []MsgKind{MsgHeartbeat, MsgVote, MsgTimeoutNow}[rng.IntN(3)]
				r.step(now, Message{Kind: kind, From: from, To: "a", Term: r.term + uint64(rng.IntN(2)), Stamp: int64(now), Transfer: rng.IntN(2) == 0})
			case k == 8:
				_ = r.transferLeadership(now)
			default:
				now += time.Duration(rng.Int64N(int64(tHB)))
				r.tick(now)
			}
			for _, m := range r.takeMsgs() {
				switch m.Kind {
				case MsgHeartbeat:
					beats = append(beats, m)
				case MsgPreVote, MsgVote:
					asks = append(asks, m)
				}
			}
			if len(beats) > 8 {
				beats = beats[len(beats)-8:]
			}
			if len(asks) > 8 {
				asks = asks[len(asks)-8:]
			}
			for i, e := range r.takeEvents() {
				where := fmt.Sprintf("seed %d call %d event %d %+v", seed, call, i, e)
				switch e.kind {
				case evLease:
					if e.held {
						require.False(t, held, "two gains: %s", where)
						require.GreaterOrEqual(t, e.term, leaseTerm, "an older term: %s", where)
					} else {
						require.True(t, held, "a loss without a gain: %s", where)
						require.Equal(t, leaseTerm, e.term, where)
					}
					held, leaseTerm = e.held, e.term
				case evState:
					if e.from == StateLeader {
						require.False(t, held, "the loss after the state change: %s", where)
					}
				}
			}
			if held {
				where := fmt.Sprintf("seed %d call %d at %v", seed, call, now)
				require.Equal(t, roleLeader, r.role, where)
				require.Equal(t, leaseTerm, r.term, where)
				require.Greater(t, r.leaseUntil(), now, "told held after the deadline: %s", where)
				require.LessOrEqual(t, r.nextDeadline(), r.leaseUntil(), "no timer for the loss: %s", where)
			}
		}
		r.stop()
		for _, e := range r.takeEvents() {
			if e.kind == evLease {
				require.True(t, held && !e.held && e.term == leaseTerm, "seed %d: stop: %+v", seed, e)
				held = false
			}
		}
		require.False(t, held, "seed %d: stop left the lease held", seed)
	}
}

// doneProbe is a context whose Done reports that it was called: WaitLease
// calls it in its select, after it took the wake-up channel and found no
// lease, so from then on it can only be woken.
type doneProbe struct {
	context.Context
	once   sync.Once
	called chan struct{}
}

func (c *doneProbe) Done() <-chan struct{} {
	c.once.Do(func() { close(c.called) })
	return c.Context.Done()
}

func TestAdversary_WaitLeaseWakesOnARenewalAfterALapse(t *testing.T) {
	// A leader paused past its deadline: Lease says no, so a WaitLease
	// called now waits. On resume the same term's lease is renewed (OnLease
	// says lost, then acquired): the waiter must wake with it. It used to
	// be woken only by a lease of a new term, or by a leadership that did
	// not hold one before, so it slept on while its node held the lease.
	clk := &fakeClock{}
	var log leaseLog
	n, _ := singleNode(t, func(c *Config) { c.Clock = clk; log.hook(c) })
	first, err := n.WaitLease(context.Background())
	require.NoError(t, err)

	clk.Advance(first.Deadline+time.Millisecond, false) // the pause
	_, _, ok := n.Lease()
	require.False(t, ok)
	probe := &doneProbe{Context: context.Background(), called: make(chan struct{})}
	got := make(chan Lease, 1)
	go func() {
		l, err := n.WaitLease(probe)
		if err == nil {
			got <- l
		}
	}()
	select {
	case <-probe.called:
	case <-time.After(5 * time.Second):
		t.Fatal("WaitLease never reached its wait")
	}
	clk.Advance(0, true) // resumed: the heartbeat tick renews the lease
	require.Eventually(t, func() bool { return len(log.get()) == 3 }, 5*time.Second, time.Millisecond, "lost and acquired again")
	select {
	case l := <-got:
		require.Equal(t, first.Term, l.Term)
		require.Greater(t, l.Deadline, clk.Now(), "a lease that holds")
	case <-time.After(5 * time.Second):
		t.Fatalf("WaitLease slept through the renewal: OnLease said %+v, Lease says held", log.get())
	}
}
