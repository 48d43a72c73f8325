package transport

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
)

// testTransportContract checks the election.Transport contract (see
// election/transport.go) on transports made by mk, which returns one
// unstarted transport per id, all knowing each other. It is written
// against the interface only, so any Transport can be run through it.
func testTransportContract(t *testing.T, mk func(t *testing.T, ids []string) map[string]election.Transport) {
	start := func(t *testing.T, tr election.Transport) *inbox {
		in := &inbox{}
		require.NoError(t, tr.Start(in.deliver, in.report))
		return in
	}
	resend := func(t *testing.T, tr election.Transport, in *inbox, m election.Message, ok func(election.Message) bool) {
		t.Helper()
		require.Eventually(t, func() bool {
			tr.Send(m)
			time.Sleep(2 * time.Millisecond) // pacing of the retry
			return in.has(ok)
		}, 10*time.Second, time.Millisecond, "%v never arrived", m.Kind)
	}

	t.Run("delivers every field with the authenticated sender", func(t *testing.T) {
		trs := mk(t, []string{"a", "b"})
		start(t, trs["a"])
		inB := start(t, trs["b"])
		for k := election.MsgKind(0); int(k) < election.NumMsgKinds; k++ {
			m := sample(k)
			m.From, m.To = "forged", "b" // From on the sending side is not trusted
			resend(t, trs["a"], inB, m, func(got election.Message) bool { return got.Kind == k })
			for _, got := range inB.messages() {
				if got.Kind == k {
					want := m
					want.From = "a"
					require.Equal(t, want, got)
				}
			}
		}
		require.NoError(t, trs["a"].Close())
		require.NoError(t, trs["b"].Close())
	})

	t.Run("Send to an unknown peer returns false", func(t *testing.T) {
		trs := mk(t, []string{"a", "b"})
		start(t, trs["a"])
		require.False(t, trs["a"].Send(election.Message{Kind: election.MsgVote, To: "nobody"}))
		require.False(t, trs["a"].Send(election.Message{Kind: election.MsgVote, To: "a"}), "self is not a peer")
		require.NoError(t, trs["a"].Close())
		require.NoError(t, trs["b"].Close())
	})

	t.Run("Send never blocks, even with the peer gone", func(t *testing.T) {
		trs := mk(t, []string{"a", "b"})
		start(t, trs["a"])
		start(t, trs["b"])
		require.NoError(t, trs["b"].Close())
		begin := time.Now()
		for i := range 10000 {
			trs["a"].Send(election.Message{Kind: election.MsgVote, To: "b", Term: uint64(i)})
		}
		require.Less(t, time.Since(begin), 2*time.Second)
		require.NoError(t, trs["a"].Close())
	})

	t.Run("Close is idempotent and final", func(t *testing.T) {
		trs := mk(t, []string{"a", "b"})
		start(t, trs["a"])
		var delivered atomic.Int64
		require.NoError(t, trs["b"].Start(func(election.Message) { delivered.Add(1) }, func(error) {}))
		require.Eventually(t, func() bool {
			trs["a"].Send(election.Message{Kind: election.MsgHeartbeat, To: "b", Term: 1})
			time.Sleep(2 * time.Millisecond)
			return delivered.Load() > 0
		}, 10*time.Second, time.Millisecond)
		require.NoError(t, trs["b"].Close())
		require.NoError(t, trs["b"].Close())
		after := delivered.Load()
		for range 200 { // a keeps talking to the closed b
			trs["a"].Send(election.Message{Kind: election.MsgHeartbeat, To: "b", Term: 1})
		}
		require.False(t, trs["b"].Send(election.Message{Kind: election.MsgVote, To: "a"}))
		require.NoError(t, trs["a"].Close())
		require.Equal(t, after, delivered.Load(), "deliver was called after Close returned")
	})
}

// TestMem_TransportContract runs the same suite on the in-memory transport
// that the election's unit tests use, so that they test against a
// transport that keeps the contract too.
func TestMem_TransportContract(t *testing.T) {
	leakCheck(t)
	testTransportContract(t, func(t *testing.T, ids []string) map[string]election.Transport {
		nw := election.NewMemNetwork(1)
		out := map[string]election.Transport{}
		for _, id := range ids {
			out[id] = nw.Endpoint(id)
		}
		return out
	})
}

func TestQUIC_TransportContract(t *testing.T) {
	leakCheck(t)
	testTransportContract(t, func(t *testing.T, ids []string) map[string]election.Transport {
		out := map[string]election.Transport{}
		for id, cfg := range meshConfigs(t, certDir(t, ids...), ids) {
			q, err := New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { q.Close() })
			out[id] = q
		}
		return out
	})
}
