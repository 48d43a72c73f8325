package transport

import (
	"testing"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestQUIC_Exchange(t *testing.T) {
	defer goleak.VerifyNone(t)
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
