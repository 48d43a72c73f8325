package transport

import (
	"bytes"
	"errors"
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
	require.NoError(t, b.udp.Close())
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
