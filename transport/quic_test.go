package transport

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
)

func TestQUIC_Exchange(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b", "c"}, nil)
	for _, from := range []string{"a", "b", "c"} {
		for _, to := range []string{"a", "b", "c"} {
			if from != to {
				sendUntil(t, ns[from], ns[to], election.Message{Kind: election.MsgVote, Term: 7, Position: []byte("p")})
			}
		}
	}
	for _, n := range ns {
		require.NoError(t, n.Close())
		st := n.Stats()
		require.NotZero(t, st.MessagesReceived)
		require.Zero(t, st.Dropped.Total()-st.Dropped.InvalidPacket, "%+v", st.Dropped)
	}
}

func TestQUIC_ReconnectAfterPeerRestart(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, nil)
	a, b := ns["a"], ns["b"]
	sendUntil(t, a, b, election.Message{Kind: election.MsgHeartbeat, Term: 1})
	sendUntil(t, b, a, election.Message{Kind: election.MsgHeartbeatResp, Term: 1})

	// b goes away and a new process takes its address with the same identity.
	bcfg := b.cfg
	require.NoError(t, b.Close())
	b2q, err := New(bcfg)
	require.NoError(t, err)
	b2 := &node{QUIC: b2q, in: &inbox{}}
	require.NoError(t, b2.Start(b2.in.deliver, b2.in.report))
	defer b2.Close()

	sendUntil(t, a, b2, election.Message{Kind: election.MsgHeartbeat, Term: 2})
	sendUntil(t, b2, a, election.Message{Kind: election.MsgHeartbeatResp, Term: 2})
	require.GreaterOrEqual(t, a.Stats().Reconnects, uint64(1))
	require.NoError(t, a.Close())
	require.NoError(t, b2.Close())
}

func TestQUIC_SendNeverBlocksWhenPeerDown(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a", "b")
	cfg := nodeConfig(dir, "a")
	cfg.Peers["b"] = freeUDPAddr(t) // nobody listens there
	cfg.QueueLen = 4
	q, err := New(cfg)
	require.NoError(t, err)
	in := &inbox{}
	require.NoError(t, q.Start(in.deliver, in.report))

	start := time.Now()
	accepted := 0
	for i := range 1000 {
		if q.Send(election.Message{Kind: election.MsgVote, To: "b", Term: uint64(i)}) {
			accepted++
		}
	}
	require.Less(t, time.Since(start), time.Second, "1000 Sends to a dead peer must not block")
	require.LessOrEqual(t, accepted, cfg.QueueLen+1) // +1: the sender may have taken one batch
	st := q.Stats()
	require.GreaterOrEqual(t, st.Dropped.QueueFull, uint64(1000-accepted))
	eventually(t, func() bool {
		for _, e := range in.errors() {
			if errors.Is(e, ErrQueueFull) {
				return true
			}
		}
		return false
	}, "queue full was not reported")

	t.Run("heartbeats: newest wins", func(t *testing.T) {
		p := q.peers["b"]
		p.take() // make room: the queue is full of votes
		for i := range 100 {
			require.True(t, q.Send(election.Message{Kind: election.MsgHeartbeat, To: "b", Term: 9, Stamp: int64(i + 1)}))
		}
		qd := p.take()
		require.Len(t, qd, 1)
		m, err := Decode(qd[0].b, "test", 0)
		require.NoError(t, err)
		require.Equal(t, int64(100), m.Stamp)
	})

	start = time.Now()
	require.NoError(t, q.Close())
	require.Less(t, time.Since(start), time.Second, "Close must not wait for a hopeless dial")
	require.False(t, q.Send(election.Message{Kind: election.MsgVote, To: "b"}))
}

func TestQUIC_LargeMessageTravelsOnAStream(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, func(c *Config) { c.MaxMessageSize = 8192 })
	pos := bytes.Repeat([]byte("x"), 6000) // far beyond a datagram
	ns["a"].Send(election.Message{Kind: election.MsgVote, To: "b", Term: 5, Position: pos})
	eventually(t, func() bool {
		ns["a"].Send(election.Message{Kind: election.MsgVote, To: "b", Term: 5, Position: pos})
		return ns["b"].in.has(func(m election.Message) bool { return bytes.Equal(m.Position, pos) })
	}, "large message never arrived")
	for _, n := range ns {
		require.NoError(t, n.Close())
	}
}

func TestQUIC_ReconnectAfterPeerCrash(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, nil)
	a, b := ns["a"], ns["b"]
	sendUntil(t, a, b, election.Message{Kind: election.MsgHeartbeat, Term: 1})

	// b "crashes": its socket vanishes without a CONNECTION_CLOSE to a.
	bcfg := b.cfg
	require.NoError(t, b.sock.Close())
	b2q, err := New(bcfg)
	require.NoError(t, err)
	b2 := &node{QUIC: b2q, in: &inbox{}}
	require.NoError(t, b2.Start(b2.in.deliver, b2.in.report))
	t.Cleanup(func() { b2.Close() })

	// a's packets on its old connection reach the new b, which answers with
	// a stateless reset (its key derives from the same private key), so a
	// redials at once instead of waiting for the idle timeout.
	start := time.Now()
	sendUntil(t, a, b2, election.Message{Kind: election.MsgHeartbeat, Term: 2})
	require.Less(t, time.Since(start), idleTimeout-time.Second, "reconnect took as long as an idle timeout")
	b.Close()
}

func TestQUIC_OneConnectionPerPair(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b", "c"}, nil)
	for _, from := range []string{"a", "b", "c"} {
		for _, to := range []string{"a", "b", "c"} {
			if from != to {
				sendUntil(t, ns[from], ns[to], election.Message{Kind: election.MsgVote, Term: 3})
			}
		}
	}
	// Each node accepted exactly the connections of the peers whose ids
	// sort before its own, and those peers dialled none from it.
	inbound := func(n *node) []string {
		n.mu.Lock()
		defer n.mu.Unlock()
		var ids []string
		for id := range n.inbound {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return ids
	}
	// Knocks (conn.go) are inbound too while they last, a moment.
	eventually(t, func() bool {
		return len(inbound(ns["a"])) == 0 && slices.Equal([]string{"a"}, inbound(ns["b"])) &&
			slices.Equal([]string{"a", "b"}, inbound(ns["c"]))
	}, "inbound connections: a %v, b %v, c %v", inbound(ns["a"]), inbound(ns["b"]), inbound(ns["c"]))
	for _, n := range ns {
		require.Zero(t, n.Stats().Reconnects)
		require.NoError(t, n.Close())
	}
}

// TestQUIC_ReconnectAfterRestartOfEitherSide covers a restart (clean close, or a crash: the socket
// vanishes without a CONNECTION_CLOSE) of either side of the pair's
// connection: a dials it, b accepts it.
func TestQUIC_ReconnectAfterRestartOfEitherSide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		victim  string
		crashed bool
	}{
		{"dialer closed", "a", false},
		{"dialer crashed", "a", true},
		{"acceptor closed", "b", false},
		{"acceptor crashed", "b", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			ns := cluster(t, []string{"a", "b"}, nil)
			victim, other := ns[tc.victim], ns[map[string]string{"a": "b", "b": "a"}[tc.victim]]
			sendUntil(t, victim, other, election.Message{Kind: election.MsgHeartbeat, Term: 1})
			sendUntil(t, other, victim, election.Message{Kind: election.MsgHeartbeatResp, Term: 1})

			cfg := victim.cfg
			if tc.crashed {
				require.NoError(t, victim.sock.Close())
			} else {
				require.NoError(t, victim.Close())
			}
			q2, err := New(cfg)
			require.NoError(t, err)
			v2 := &node{QUIC: q2, in: &inbox{}}
			require.NoError(t, v2.Start(v2.in.deliver, v2.in.report))
			t.Cleanup(func() { v2.Close() })

			// Both directions work again well before an idle timeout: a
			// restarted dialer dials at once, and the dialer of a restarted
			// acceptor gets a stateless reset for its next packet. The
			// survivor keeps talking, as a leader would.
			start := time.Now()
			sendUntil(t, other, v2, election.Message{Kind: election.MsgHeartbeat, Term: 2})
			sendUntil(t, v2, other, election.Message{Kind: election.MsgHeartbeatResp, Term: 2})
			require.Less(t, time.Since(start), idleTimeout-time.Second, "reconnect took as long as an idle timeout")
			require.GreaterOrEqual(t, other.Stats().Reconnects, uint64(1))
			if tc.victim == "a" {
				other.mu.Lock()
				require.Len(t, other.inbound, 1, "the new connection replaces the old one")
				other.mu.Unlock()
			}
			require.NoError(t, other.Close())
			require.NoError(t, v2.Close())
			victim.Close()
		})
	}
}

// TestQUIC_RestartedAcceptorReachableAtOnce: b accepts the pair's connection
// (a dials it). After b restarts (cleanly or crashed), a, which sends
// nothing (two idle followers), must not hold on to its dead connection
// until a keep-alive or the idle timeout tells it: the restarted b knocks
// (knock.go), a redials, and messages flow both ways. To tell the knock
// from the fallbacks whatever the machine's load, keep-alives and the idle
// timeout are pushed to a minute and more, far beyond the test's deadlines
// (10 s per step), and path-MTU probes are off (a probe to b2's port draws
// a stateless reset, which redialled a at once without any knock). The
// closed case may also be served by closedWait (a redials 500 ms after b's
// close if no knock came first), which is no keep-alive either. The times
// are logged, not asserted (speed is make bench's question).
func TestQUIC_RestartedAcceptorReachableAtOnce(t *testing.T) {
	for _, crashed := range []bool{false, true} {
		t.Run(map[bool]string{false: "closed", true: "crashed"}[crashed], func(t *testing.T) {
			leakCheck(t)
			ns := cluster(t, []string{"a", "b"}, func(c *Config) {
				c.tune = func(q *QUIC) {
					q.qconf.KeepAlivePeriod, q.qconf.MaxIdleTimeout = time.Minute, 2*time.Minute
					q.qconf.DisablePathMTUDiscovery = true
				}
			})
			a, b := ns["a"], ns["b"]
			sendUntil(t, a, b, election.Message{Kind: election.MsgHeartbeat, Term: 1})
			sendUntil(t, b, a, election.Message{Kind: election.MsgHeartbeatResp, Term: 1})
			time.Sleep(2 * knockGrace) // a's connection is not a young one

			if crashed {
				require.NoError(t, b.sock.Close())
			} else {
				require.NoError(t, b.Close())
			}
			b2q, err := New(b.cfg) // with the same tune
			require.NoError(t, err)
			b2 := &node{QUIC: b2q, in: &inbox{}}
			start := time.Now()
			require.NoError(t, b2.Start(b2.in.deliver, b2.in.report))
			t.Cleanup(func() { b2.Close() })

			// b2 -> a: one message, sent once right after the restart (a
			// pre-vote), while a sends nothing.
			b2.Send(election.Message{Kind: election.MsgPreVote, To: "a", Term: 2})
			arrived := func(n *node, from string, kind election.MsgKind, term uint64) func() bool {
				return func() bool {
					return n.in.has(func(m election.Message) bool { return m.From == from && m.Kind == kind && m.Term == term })
				}
			}
			eventually(t, arrived(a, "b", election.MsgPreVote, 2), "b2 -> a never arrived")
			t.Logf("restart -> first message b2 -> a: %v", time.Since(start))

			// a -> b2: a's connection was replaced, so one message sent once
			// gets through (on the dead one it would be lost to a reset).
			eventually(t, func() bool {
				b2.mu.Lock()
				defer b2.mu.Unlock()
				return b2.inbound["a"] != nil
			}, "a never redialled b2")
			t.Logf("restart -> a's new connection at b2: %v", time.Since(start))
			a.Send(election.Message{Kind: election.MsgHeartbeat, To: "b", Term: 3})
			eventually(t, arrived(b2, "a", election.MsgHeartbeat, 3), "a -> b2 lost")
			require.Equal(t, uint64(1), a.Stats().Reconnects)

			require.NoError(t, a.Close())
			require.NoError(t, b2.Close())
			b.Close()
		})
	}
}
