package election

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fastConfig returns a config with short timings for real-time tests.
func fastConfig(id string, peers []string) Config {
	c := DefaultConfig()
	c.Cluster, c.ID, c.Peers = "test", id, peers
	c.Heartbeat = 10 * time.Millisecond
	c.ElectionMin = 60 * time.Millisecond
	c.ElectionMax = 120 * time.Millisecond
	c.Storage = &MemStorage{}
	return c
}

type testCluster struct {
	t     *testing.T
	net   *MemNetwork
	ids   []string
	nodes map[string]*Node
	cfgs  map[string]Config
	mu    sync.Mutex
}

func newTestCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, net: NewMemNetwork(1), nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	for i := range n {
		c.ids = append(c.ids, fmt.Sprintf("n%d", i+1))
	}
	for _, id := range c.ids {
		var peers []string
		for _, p := range c.ids {
			if p != id {
				peers = append(peers, p)
			}
		}
		cfg := fastConfig(id, peers)
		if tweak != nil {
			tweak(&cfg)
		}
		c.cfgs[id] = cfg
		c.start(id)
	}
	t.Cleanup(c.closeAll)
	return c
}

func (c *testCluster) start(id string) *Node {
	n, err := New(c.cfgs[id], c.net.Endpoint(id))
	require.NoError(c.t, err)
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n
}

func (c *testCluster) closeAll() {
	for _, n := range c.nodes {
		n.Close()
	}
	c.net.Wait()
}

// waitLeader waits for exactly one node, other than those in except, to
// hold a lease and returns it.
func (c *testCluster) waitLeader(except ...string) *Node {
	c.t.Helper()
	var leader *Node
	require.Eventually(c.t, func() bool {
		leader = nil
		count := 0
		for id, n := range c.nodes {
			if contains(except, id) {
				continue
			}
			if n.IsLeader() {
				leader = n
				count++
			}
		}
		return count == 1
	}, 5*time.Second, time.Millisecond, "no single leader")
	return leader
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestNode_ThreeNodesElectOneLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	for _, n := range c.nodes {
		require.Eventually(t, func() bool { return n.Leader() == l.ID() }, 2*time.Second, time.Millisecond)
	}
}

func TestNode_SingleNodeElectsItself(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	l := c.waitLeader()
	require.Equal(t, "n1", l.ID())
}

func TestNode_FailoverAfterAbruptClose(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	term := l.Term()
	c.net.Isolate(l.ID()) // abrupt: no transfer possible
	l.Close()
	nl := c.waitLeader(l.ID())
	require.Greater(t, nl.Term(), term)
}

func TestNode_StepDownHandsOver(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	require.Eventually(t, func() bool { return l.Stats().Sent[MsgHeartbeat] > 4 }, time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, l.StepDown())
	require.False(t, l.IsLeader())
	nl := c.waitLeader(l.ID())
	require.NotEqual(t, l.ID(), nl.ID())
	require.Less(t, time.Since(start), c.cfgs["n1"].ElectionMin)
}

// fakeClock is a Clock that moves only when told: Advance with fire=false
// models a paused process whose clock runs on (its timers fire late).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Duration
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now + d, f: f}
	if d <= 0 {
		go f()
		return func() bool { return false }
	}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves the clock; with fire, the timers due run.
func (c *fakeClock) Advance(d time.Duration, fire bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now += d
	if !fire {
		return
	}
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case t.at <= c.now:
			t.stopped = true
			go t.f()
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

func singleNode(t *testing.T, tweak func(*Config)) (*Node, Config) {
	t.Helper()
	cfg := fastConfig("solo", nil)
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(cfg, NewMemNetwork(1).Endpoint("solo"))
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n, cfg
}

func TestNode_IsLeaderFalseRightAfterPauseLongerThanLease(t *testing.T) {
	// Thesis 6.4.1: the lease is checked against the clock at call time,
	// so a leader whose process was paused past its lease answers false at
	// once, before its loop has run again.
	clk := &fakeClock{}
	n, cfg := singleNode(t, func(c *Config) { c.Clock = clk })
	require.Eventually(t, n.IsLeader, 5*time.Second, time.Millisecond)
	term, deadline, ok := n.Lease()
	require.True(t, ok)
	require.EqualValues(t, 1, term)
	require.Equal(t, time.Duration(float64(cfg.ElectionMin)*(1-cfg.MaxClockDrift)/(1+cfg.MaxClockDrift))-leaseMargin, deadline)

	clk.Advance(deadline, false) // the pause: no timer has fired
	require.False(t, n.IsLeader())
	_, _, ok = n.Lease()
	require.False(t, ok)
	require.Equal(t, StateLeader, n.State(), "it has not run yet, but it does not act")

	clk.Advance(0, true) // resumed: its heartbeat tick renews the lease
	require.Eventually(t, n.IsLeader, 5*time.Second, time.Millisecond)
}

func TestNode_CloseOfLeaderTransfers(t *testing.T) {
	// Thesis 3.10: Close on a leader hands over first (TimeoutNow), so the
	// others need about one round trip, not an election timeout.
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	require.Eventually(t, func() bool { return l.Stats().Sent[MsgHeartbeat] > 4 }, time.Second, time.Millisecond)
	term := l.Term()
	start := time.Now()
	require.NoError(t, l.Close())
	nl := c.waitLeader(l.ID())
	require.Less(t, time.Since(start), c.cfgs["n1"].ElectionMin, "handed over, no election timeout")
	require.Greater(t, nl.Term(), term)
	require.EqualValues(t, 1, l.Stats().Transfers)
	require.Equal(t, StateClosed, l.State())
	require.NoError(t, l.Close(), "idempotent")
}

type recorder struct {
	mu      sync.Mutex
	states  []event
	leaders []event
	errs    []error
}

func (r *recorder) hook(c *Config) {
	c.OnStateChange = func(from, to State, term uint64) {
		r.mu.Lock()
		r.states = append(r.states, event{from: from, to: to, term: term})
		r.mu.Unlock()
	}
	c.OnLeaderChange = func(leader string, term uint64) {
		r.mu.Lock()
		r.leaders = append(r.leaders, event{leader: leader, term: term})
		r.mu.Unlock()
	}
	c.OnError = func(err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}
}

func TestNode_CallbacksInOrderWithTheTerm(t *testing.T) {
	// The term is the fencing token: every callback carries it, and the
	// changes arrive in order, chaining from follower to closed.
	recs := map[string]*recorder{}
	var mu sync.Mutex
	c := newTestCluster(t, 3, func(cfg *Config) {
		r := &recorder{}
		mu.Lock()
		recs[cfg.ID] = r
		mu.Unlock()
		r.hook(cfg)
	})
	l := c.waitLeader()
	require.NoError(t, l.StepDown())
	c.waitLeader(l.ID())
	c.closeAll()
	for id, r := range recs {
		r.mu.Lock()
		prev, term := StateFollower, uint64(0)
		for _, e := range r.states {
			require.Equal(t, prev, e.from, "node %s: %v", id, r.states)
			require.GreaterOrEqual(t, e.term, term)
			prev, term = e.to, e.term
		}
		require.Equal(t, StateClosed, prev, id)
		term = 0
		for _, e := range r.leaders {
			require.GreaterOrEqual(t, e.term, term)
			term = e.term
		}
		require.NotEmpty(t, r.leaders)
		r.mu.Unlock()
	}
}

func TestNode_SlowCallbackNeverStallsTheElection(t *testing.T) {
	release := make(chan struct{})
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.OnStateChange = func(State, State, uint64) { <-release }
		cfg.OnLeaderChange = func(string, uint64) { <-release }
	})
	defer close(release)
	l := c.waitLeader()
	require.NoError(t, l.StepDown())
	c.waitLeader(l.ID())
	queued := uint64(0)
	for _, n := range c.nodes {
		queued += n.Stats().CallbacksQueued
	}
	require.Positive(t, queued, "the callbacks are still waiting")
}

func TestNode_SlowCallbackShowsAsDelayOfTheNext(t *testing.T) {
	// The first callback (follower -> candidate) takes 50 ms; the events
	// queued behind it start late by about that much, and each sees its own
	// delay in Stats from inside.
	const slow = 50 * time.Millisecond
	var node atomic.Pointer[Node]
	var first atomic.Bool
	var seen atomic.Int64 // the leader-change callback's own delay
	seen.Store(-1)
	n, _ := singleNode(t, func(c *Config) {
		c.OnStateChange = func(State, State, uint64) {
			if !first.Swap(true) {
				time.Sleep(slow)
			}
		}
		c.OnLeaderChange = func(string, uint64) {
			for node.Load() == nil {
				runtime.Gosched()
			}
			seen.Store(int64(node.Load().Stats().CallbackDelayLast))
		}
	})
	node.Store(n)
	require.Eventually(t, func() bool { return seen.Load() >= 0 }, 5*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, time.Duration(seen.Load()), slow/2, "the leader change waited behind the slow callback")
	s := n.Stats()
	require.GreaterOrEqual(t, s.CallbackDelayMax, time.Duration(seen.Load()))
	require.LessOrEqual(t, s.CallbackDelayLast, s.CallbackDelayMax)
}

func TestNode_CloseFromCallbackReturnsErrBusy(t *testing.T) {
	var node atomic.Pointer[Node]
	got := make(chan error, 4)
	n, _ := singleNode(t, func(c *Config) {
		c.OnStateChange = func(_, to State, _ uint64) {
			if to == StateLeader {
				for node.Load() == nil {
					runtime.Gosched()
				}
				got <- node.Load().Close()
			}
		}
	})
	node.Store(n)
	select {
	case err := <-got:
		require.ErrorIs(t, err, ErrBusy)
	case <-time.After(5 * time.Second):
		t.Fatal("no leader callback")
	}
	require.NoError(t, n.Close())
}

func TestNode_ConcurrentGettersAndCloseStress(t *testing.T) {
	// nats-io/graft raced its getters against the loop and could hang in a
	// concurrent Close: run them all at once under -race.
	c := newTestCluster(t, 3, nil)
	c.waitLeader()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					_ = n.State()
					_ = n.Term()
					_ = n.Leader()
					_ = n.IsLeader()
					_, _, _ = n.Lease()
					_ = n.Stats()
					_ = n.ID()
					runtime.Gosched()
				}
			})
		}
	}
	var closers sync.WaitGroup
	for _, n := range c.nodes {
		for range 3 {
			closers.Go(func() { require.NoError(t, n.Close()) })
		}
	}
	done := make(chan struct{})
	go func() { closers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("concurrent Close hung")
	}
	close(stop)
	wg.Wait()
	for _, n := range c.nodes {
		require.Equal(t, StateClosed, n.State())
		require.False(t, n.IsLeader())
		require.Empty(t, n.Leader())
		require.ErrorIs(t, n.StepDown(), ErrClosed)
	}
}

func TestNode_HangingHooksAreBounded(t *testing.T) {
	// nats-io/graft ran its hooks on the loop: a stuck hook stalled the
	// election. Here a hook that hangs counts as a refusal after
	// HookTimeout, and the node stays responsive.
	// It is reported as the application's HookError, at most once a
	// second per node however many votes it refuses.
	hang := make(chan struct{})
	defer close(hang)
	recs := map[string]*recorder{}
	var mu sync.Mutex
	began := time.Now()
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.HookTimeout = 2 * time.Millisecond
		cfg.GrantVote = func([]byte) bool { <-hang; return true }
		rec := &recorder{}
		rec.hook(cfg)
		mu.Lock()
		recs[cfg.ID] = rec
		mu.Unlock()
	})
	require.Eventually(t, func() bool {
		lost := uint64(0)
		for _, n := range c.nodes {
			lost += n.Stats().PreVotesLost
		}
		return lost >= 6
	}, 10*time.Second, time.Millisecond, "pre-votes are refused when the hook hangs")
	for _, n := range c.nodes {
		require.False(t, n.IsLeader())
		require.Zero(t, n.Term(), "no real election: pre-votes fail")
	}
	start := time.Now()
	c.closeAll()
	require.Less(t, time.Since(start), 2*time.Second)
	elapsed := time.Since(began)
	reported := 0
	for id, rec := range recs {
		rec.mu.Lock()
		for _, err := range rec.errs {
			var he *HookError
			require.ErrorAs(t, err, &he, "%s: %v", id, err)
			require.Equal(t, "GrantVote", he.Hook)
			require.ErrorIs(t, err, ErrHookTimeout)
		}
		require.LessOrEqual(t, len(rec.errs), int(elapsed/hookReportGap)+1, "%s reported more than once a second", id)
		reported += len(rec.errs)
		rec.mu.Unlock()
	}
	require.Positive(t, reported, "the hanging hook was reported")
}

func TestNode_VoteHooks(t *testing.T) {
	// Graft's state-machine hook: a node whose GrantVote refuses a behind
	// candidate keeps it from winning; CurrentPosition travels with the
	// request; a panicking or hanging CurrentPosition aborts the campaign
	// and is reported.
	pos := map[string]string{"n1": "5", "n2": "9", "n3": "5"}
	c := newTestCluster(t, 3, func(cfg *Config) {
		me := pos[cfg.ID]
		cfg.CurrentPosition = func() []byte { return []byte(me) }
		cfg.GrantVote = func(p []byte) bool { return string(p) > me }
	})
	l := c.waitLeader()
	require.Equal(t, "n2", l.ID(), "only the most advanced node can win")

	for _, bad := range []func() []byte{
		func() []byte { panic("boom") },
		func() []byte { time.Sleep(time.Second); return nil },
	} {
		rec := &recorder{}
		_, _ = singleNode(t, func(cfg *Config) {
			cfg.HookTimeout = 5 * time.Millisecond
			cfg.CurrentPosition = bad
			rec.hook(cfg)
		})
		require.Eventually(t, func() bool {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return len(rec.errs) > 0
		}, 5*time.Second, time.Millisecond)
		rec.mu.Lock()
		require.Contains(t, rec.errs[0].Error(), "CurrentPosition")
		rec.mu.Unlock()
	}
}

func TestNode_FailingSaveReportsAndRecovers(t *testing.T) {
	st := &MemStorage{}
	st.SetFail(errors.New("disk full"))
	rec := &recorder{}
	n, _ := singleNode(t, func(c *Config) { c.Storage = st; rec.hook(c) })
	require.Eventually(t, func() bool { return n.Stats().StorageErrors > 0 }, 5*time.Second, time.Millisecond)
	require.Zero(t, n.Term(), "memory never runs ahead of the disk")
	require.False(t, n.IsLeader())
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.errs) > 0
	}, 5*time.Second, time.Millisecond)
	st.SetFail(nil)
	require.Eventually(t, n.IsLeader, 5*time.Second, time.Millisecond)
	hs, saves := st.Saved()
	require.Equal(t, n.Term(), hs.Term)
	require.Positive(t, saves)
}

func TestNode_StateFileKeptOnClose(t *testing.T) {
	// nats-io/graft deleted its state file on close: a restart could then
	// vote twice in a term.
	path := filepath.Join(t.TempDir(), "state")
	cfg := fastConfig("solo", nil)
	cfg.Storage, cfg.StatePath = nil, path
	n, err := New(cfg, NewMemNetwork(1).Endpoint("solo"))
	require.NoError(t, err)
	require.Eventually(t, n.IsLeader, 5*time.Second, time.Millisecond)
	term := n.Term()
	require.NoError(t, n.Close())
	hs, err := NewFileStorage(path).Load()
	require.NoError(t, err)
	require.Equal(t, HardState{Term: term, VotedFor: "solo"}, hs)

	n2, err := New(cfg, NewMemNetwork(1).Endpoint("solo"))
	require.NoError(t, err)
	defer n2.Close()
	require.Equal(t, term, n2.Term())
	require.Eventually(t, func() bool { return n2.Term() > term }, 5*time.Second, time.Millisecond)
}

func TestNode_CorruptStateFileFailsNew(t *testing.T) {
	good := encodeHardState(HardState{Term: 7, VotedFor: "n2"})
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	cases := []struct {
		name    string
		content []byte
		why     string
	}{
		{"empty", []byte{}, "empty"},
		{"truncated", good[:10], "truncated"},
		{"truncated vote", good[:len(good)-2], "does not match"},
		{"bad checksum", flip(len(good) - 1), "checksum"},
		{"altered term", flip(12), "checksum"},
		{"bad magic", flip(0), "magic"},
		{"unknown version", flip(4), "version"},
		{"trailing garbage", append(bytes.Clone(good), 0), "does not match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			require.NoError(t, os.WriteFile(path, c.content, 0o600))
			cfg := fastConfig("solo", nil)
			cfg.Storage, cfg.StatePath = nil, path
			_, err := New(cfg, NewMemNetwork(1).Endpoint("solo"))
			var se *StorageError
			require.ErrorAs(t, err, &se)
			require.True(t, se.Corrupt)
			require.Equal(t, path, se.Path)
			require.Contains(t, err.Error(), path)
			require.Contains(t, err.Error(), c.why)
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		dir := t.TempDir() // a directory is not a readable file
		_, err := NewFileStorage(dir).Load()
		var se *StorageError
		require.ErrorAs(t, err, &se)
		require.False(t, se.Corrupt)
		require.Equal(t, "load", se.Op)
		require.Contains(t, err.Error(), dir)
		require.NotNil(t, errors.Unwrap(err))
	})
}

func TestNode_StatsCounters(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	require.Eventually(t, func() bool {
		for _, n := range c.nodes {
			if n.Stats().Received[MsgHeartbeat] == 0 && n != l {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond)
	ls := l.Stats()
	require.Equal(t, StateLeader, ls.State)
	require.Equal(t, l.ID(), ls.Leader)
	require.Equal(t, l.Term(), ls.Term)
	require.Positive(t, ls.ElectionsWon)
	require.Positive(t, ls.ElectionsStarted)
	require.Positive(t, ls.PreVotesStarted)
	require.Positive(t, ls.LeaderChanges)
	require.Positive(t, ls.Sent[MsgHeartbeat])
	require.Positive(t, ls.Received[MsgHeartbeatResp])
	require.Zero(t, ls.SinceLeaderContact)
	for _, n := range c.nodes {
		if n != l {
			s := n.Stats()
			require.GreaterOrEqual(t, s.SinceLeaderContact, time.Duration(0))
			require.Less(t, s.SinceLeaderContact, time.Second)
			require.Equal(t, l.ID(), s.Leader)
		}
	}
	// A fresh node that never heard from a leader says -1.
	nw := NewMemNetwork(2)
	n, err := New(fastConfig("x", []string{"y", "z"}), nw.Endpoint("x"))
	require.NoError(t, err)
	defer n.Close()
	require.EqualValues(t, -1, n.Stats().SinceLeaderContact)
	// Messages the inbox cannot take are counted as dropped.
	for range inboxLen * 2 {
		n.deliver(Message{Kind: MsgHeartbeat, From: "y", To: "x", Term: 1})
	}
	require.Positive(t, n.Stats().Dropped[MsgHeartbeat])
}

type failingTransport struct{ MemTransport }

func (*failingTransport) Start(func(Message), func(error)) error { return errors.New("no socket") }

func TestNode_NewErrors(t *testing.T) {
	_, err := New(fastConfig("a", nil), nil)
	require.Error(t, err)
	bad := fastConfig("a", []string{"a"})
	_, err = New(bad, NewMemNetwork(1).Endpoint("a"))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	_, err = New(fastConfig("a", nil), &failingTransport{})
	require.ErrorContains(t, err, "no socket")
}

func TestNode_LogsAndReportError(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	rec := &recorder{}
	n, _ := singleNode(t, func(c *Config) {
		rec.hook(c)
		c.OnLog = func(l LogLevel, msg string) {
			mu.Lock()
			lines = append(lines, l.String()+": "+msg)
			mu.Unlock()
		}
	})
	require.Eventually(t, n.IsLeader, 5*time.Second, time.Millisecond)
	n.ReportError(errors.New("from above"))
	// Delivered in order, but only before Close: Close drops the callbacks
	// still queued (issue 19), so a Close right after it lost the error
	// whenever the callback goroutine had not taken it yet (most runs).
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.errs) == 1
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, n.Close())
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, lines, "info: node solo became leader at term 1")
	require.Contains(t, lines, "info: node solo closed at term 1")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.errs, 1)
}

func TestNode_StepDownErrors(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	for _, n := range c.nodes {
		if n != l {
			require.ErrorIs(t, n.StepDown(), ErrNotLeader)
		}
	}
	c.net.Isolate(l.ID())
	require.Eventually(t, func() bool {
		err := l.StepDown()
		return errors.Is(err, ErrNoTransferTarget) || errors.Is(err, ErrNotLeader)
	}, 5*time.Second, time.Millisecond)
}

func TestCallBounded(t *testing.T) {
	v, err := callBounded(time.Second, func() int { return 7 })
	require.NoError(t, err)
	require.Equal(t, 7, v)
	start := time.Now()
	_, err = callBounded(time.Hour, func() int { panic("boom") })
	require.ErrorContains(t, err, "panic: boom")
	require.Less(t, time.Since(start), time.Minute, "a panic is a refusal at once, not after the timeout")
	cause := errors.New("capi: too long")
	_, err = callBounded(time.Hour, func() int { panic(cause) })
	require.ErrorIs(t, err, cause, "an error panicked with is kept")
	_, err = callBounded(time.Millisecond, func() int { time.Sleep(50 * time.Millisecond); return 1 })
	require.ErrorIs(t, err, ErrHookTimeout)
}

func TestNode_LogLevelFiltersLines(t *testing.T) {
	// Lines below Config.LogLevel never reach OnLog (nor get formatted):
	// hosts that pay per callback (Python) ask only for what they show.
	var mu sync.Mutex
	levels := map[string]map[LogLevel]int{}
	c := newTestCluster(t, 3, func(cfg *Config) {
		id := cfg.ID
		mu.Lock()
		levels[id] = map[LogLevel]int{}
		mu.Unlock()
		if id != "n1" {
			cfg.LogLevel = LogInfo
		}
		cfg.OnLog = func(l LogLevel, _ string) { mu.Lock(); levels[id][l]++; mu.Unlock() }
	})
	l := c.waitLeader()
	require.NoError(t, l.StepDown())
	c.waitLeader(l.ID())
	c.closeAll()
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, levels["n1"][LogDebug], "n1 asked for debug lines")
	for _, id := range []string{"n2", "n3"} {
		require.Zero(t, levels[id][LogDebug], "%s asked for info and up", id)
		require.Positive(t, levels[id][LogInfo], id)
	}
}

// slowTimeoutNow delays the sending of TimeoutNow, to widen the window in
// which a StepDown could return before its message left.
type slowTimeoutNow struct {
	*MemTransport
	sent atomic.Bool
}

func (s *slowTimeoutNow) Send(m Message) bool {
	if m.Kind == MsgTimeoutNow {
		time.Sleep(20 * time.Millisecond) // widens a race window; not synchronisation
		defer s.sent.Store(true)
	}
	return s.MemTransport.Send(m)
}

func TestNode_StepDownReturnsWithTheLeaseGone(t *testing.T) {
	// Thesis 3.10 and the lease: once StepDown returns, IsLeader is false
	// and the TimeoutNow has left. The loop publishes its state and sends
	// before it lets the caller go (a race let IsLeader answer true after
	// StepDown under load).
	net := NewMemNetwork(7)
	ids := []string{"n1", "n2", "n3"}
	trs := map[string]*slowTimeoutNow{}
	var nodes []*Node
	for _, id := range ids {
		var peers []string
		for _, p := range ids {
			if p != id {
				peers = append(peers, p)
			}
		}
		trs[id] = &slowTimeoutNow{MemTransport: net.Endpoint(id)}
		n, err := New(fastConfig(id, peers), trs[id])
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	var l *Node
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if n.IsLeader() && n.Stats().Received[MsgHeartbeatResp] > 0 {
				l = n
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, l.StepDown())
	require.False(t, l.IsLeader(), "the lease must end before StepDown returns")
	require.True(t, trs[l.ID()].sent.Load(), "the TimeoutNow must have left when StepDown returns")
}

func TestNode_LeaseNeverPairsWithAnOlderTerm(t *testing.T) {
	// F3 of issue 12: Lease read the state, the term and the deadline one
	// by one while the loop published them one by one, so a single node,
	// whose one step both raises the term and makes the lease valid, could
	// answer a valid lease with the term before it. The view is now
	// published whole. Readers spin while the node elects itself, many
	// times over. The old window was a few nanoseconds wide: this test did
	// not catch it in 900 rounds, it guards the shape of the fix (one
	// snapshot) against a return to separate loads.
	rounds := 50
	for i := range rounds {
		st := &MemStorage{}
		require.NoError(t, st.Save(HardState{Term: 5}))
		cfg := fastConfig("solo", nil)
		cfg.Storage = st
		stop := make(chan struct{})
		bad := make(chan uint64, 2)
		var wg sync.WaitGroup
		var n atomic.Pointer[Node]
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if nd := n.Load(); nd != nil {
						// Under load the node may lose its lease and win
						// term 7 too; a lease of term 5 is the bug.
						if term, _, ok := nd.Lease(); ok && term < 6 {
							bad <- term
							return
						}
					}
				}
			})
		}
		nd, err := New(cfg, NewMemNetwork(1).Endpoint("solo"))
		require.NoError(t, err)
		n.Store(nd)
		require.Eventually(t, nd.IsLeader, 5*time.Second, 100*time.Microsecond, "round %d", i)
		close(stop)
		wg.Wait()
		require.NoError(t, nd.Close())
		select {
		case term := <-bad:
			t.Fatalf("round %d: Lease answered a valid lease with term %d, the first election was for term 6", i, term)
		default:
		}
	}
}

func TestNode_CallbacksClosingEachOthersNodeNeverHang(t *testing.T) {
	// Two nodes whose callbacks, running at the same time, close each
	// other's node: each Close stops the node without waiting for its
	// callbacks (the other one is the caller), so both return.
	var a, b atomic.Pointer[Node]
	var inside sync.WaitGroup
	inside.Add(2)
	closed := make(chan error, 2)
	closer := func(other *atomic.Pointer[Node]) func(_, to State, _ uint64) {
		var once sync.Once
		return func(_, to State, _ uint64) {
			if to != StateLeader {
				return
			}
			once.Do(func() {
				inside.Done()
				inside.Wait() // both callbacks run now
				for other.Load() == nil {
					runtime.Gosched()
				}
				closed <- other.Load().Close()
			})
		}
	}
	na, _ := singleNode(t, func(c *Config) { c.ID = "a"; c.OnStateChange = closer(&b) })
	nb, _ := singleNode(t, func(c *Config) { c.ID = "b"; c.OnStateChange = closer(&a) })
	a.Store(na)
	b.Store(nb)
	for range 2 {
		select {
		case err := <-closed:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the two closes wait for each other")
		}
	}
	done := make(chan struct{})
	go func() { na.Close(); nb.Close(); close(done) }()
	select {
	case <-done: // and a later close from outside waits for the callbacks
	case <-time.After(10 * time.Second):
		t.Fatal("a later close hangs")
	}
	require.Equal(t, StateClosed, na.State())
	require.Equal(t, StateClosed, nb.State())
}

func TestNode_SlowCallbacksWhileLeadershipMoves(t *testing.T) {
	// Callbacks that take 20 ms while leadership moves as fast as it can:
	// the queue stays bounded, and Close waits only for the callback
	// running and the final ones, dropping the rest (counted).
	const slow = 20 * time.Millisecond
	c := newTestCluster(t, 3, func(c *Config) {
		c.OnStateChange = func(State, State, uint64) { time.Sleep(slow) }
		c.OnLeaderChange = func(string, uint64) { time.Sleep(slow) }
		c.OnLease = func(bool, Lease) { time.Sleep(slow) }
		c.OnLog = func(LogLevel, string) { time.Sleep(slow) }
		c.LogLevel = LogDebug
	})
	deadline := time.Now().Add(time.Second)
	largest := uint64(0)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.IsLeader() {
				n.StepDown()
			}
			largest = max(largest, n.Stats().CallbacksQueued)
		}
		runtime.Gosched()
	}
	require.LessOrEqual(t, largest, uint64(callbackQueueLimit))
	for _, n := range c.nodes {
		queued := n.Stats().CallbacksQueued
		start := time.Now()
		require.NoError(t, n.Close())
		took := time.Since(start)
		t.Logf("close with %d queued: %v, %d dropped", queued, took, n.Stats().CallbacksDropped)
		// The running callback, the lease's loss, the final state change
		// and log lines, and a hand-over: well under the queue's worth.
		require.Less(t, took, 2*time.Second)
	}
	dropped := uint64(0)
	for _, n := range c.nodes {
		dropped += n.Stats().CallbacksDropped
	}
	require.NotZero(t, dropped)
}
