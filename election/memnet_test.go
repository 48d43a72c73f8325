package election

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type inbox struct {
	mu  sync.Mutex
	got []Message
}

func (b *inbox) deliver(m Message) { b.mu.Lock(); b.got = append(b.got, m); b.mu.Unlock() }
func (b *inbox) len() int          { b.mu.Lock(); defer b.mu.Unlock(); return len(b.got) }

func TestMemNetwork_Faults(t *testing.T) {
	nw := NewMemNetwork(7)
	a, b := nw.Endpoint("a"), nw.Endpoint("b")
	var ib inbox
	require.NoError(t, a.Start(func(Message) {}, nil))
	require.NoError(t, b.Start(ib.deliver, nil))

	require.True(t, a.Send(Message{Kind: MsgHeartbeat, From: "forged", To: "b"}))
	require.Equal(t, 1, ib.len())
	require.Equal(t, "a", ib.got[0].From, "the network sets the sender")

	nw.Cut("a", "b") // one way
	a.Send(Message{To: "b"})
	require.Equal(t, 1, ib.len())
	nw.Heal()
	nw.Isolate("b")
	a.Send(Message{To: "b"})
	require.Equal(t, 1, ib.len())
	nw.Heal()

	nw.SetFaults(0, 1, time.Millisecond, 3*time.Millisecond) // always duplicate, delayed
	a.Send(Message{To: "b"})
	nw.Wait()
	require.Equal(t, 3, ib.len())

	nw.SetFaults(1, 0, 0, 0) // lose everything
	a.Send(Message{To: "b"})
	a.Send(Message{To: "nobody"})
	require.Equal(t, 3, ib.len())

	nw.SetFaults(0, 0, 0, 0)
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	a.Send(Message{To: "b"})
	require.False(t, b.Send(Message{To: "a"}))
	require.Equal(t, 3, ib.len())
}
