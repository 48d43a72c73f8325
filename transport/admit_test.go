package transport

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport/internal/quicpkt"
	"github.com/stretchr/testify/require"
)

func TestAdmission_BoundsStrangersNotPeers(t *testing.T) {
	peer := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7401}
	book := newAddrBook()
	book.set("b", []netip.AddrPort{addrPort(peer)})
	a := newAdmission(book)
	stranger := func(ip byte, port int) net.Addr { return &net.UDPAddr{IP: net.IPv4(10, 0, 0, ip), Port: port} }

	// One IP: maxPendingPerIP, then refused; Retry is asked from retryAbove on.
	var slots []*slot
	for i := range maxPendingPerIP {
		require.Equal(t, i >= retryAbove, a.mustValidate(stranger(1, 1000+i)), "attempt %d", i)
		s, err := a.admit(stranger(1, 1000+i))
		require.NoError(t, err)
		slots = append(slots, s)
	}
	_, err := a.admit(stranger(1, 2000))
	require.ErrorIs(t, err, errIPBusy)
	// Several IPs: maxPendingStrangers in all.
	for i := maxPendingPerIP; i < maxPendingStrangers; i++ {
		s, err := a.admit(stranger(byte(2+i/maxPendingPerIP), i))
		require.NoError(t, err)
		slots = append(slots, s)
	}
	_, err = a.admit(stranger(100, 1))
	require.ErrorIs(t, err, errStrangersBusy)

	// A peer's address has slots of its own, and never a Retry.
	require.False(t, a.mustValidate(peer))
	for range maxPendingPerPeer {
		_, err := a.admit(peer)
		require.NoError(t, err)
	}
	_, err = a.admit(peer)
	require.ErrorIs(t, err, errPeerAddrBusy)
	// The peer's IP with another port is a stranger (the same host).
	_, err = a.admit(&net.UDPAddr{IP: peer.IP, Port: 9999})
	require.ErrorIs(t, err, errStrangersBusy)

	// Released slots (twice is once) make room again.
	for _, s := range slots {
		s.release()
		s.release()
	}
	strangers, peers := a.pending()
	require.Zero(t, strangers)
	require.Equal(t, maxPendingPerPeer, peers)
	// The rate: strangerRate new handshakes in a burst, then refused.
	n := 0
	for range 2 * strangerRate {
		if s, err := a.admit(stranger(byte(n%200), n)); err == nil {
			n++
			s.release()
		} else {
			require.ErrorIs(t, err, errStrangerRate)
		}
	}
	require.InDelta(t, strangerRate-len(slots), n, 2, "the burst left after the slots above")
}

// TestHostile_InitialFloodMakesNoConnections: a stranger sends 3000
// Initial packets for new connections, garbage and then ClientHellos. quic-go
// would make a connection (4 goroutines, about 100 KB) for each and keep it
// for a second; the node makes at most maxPendingStrangers, and a peer
// that restarts meanwhile connects at once.
func TestHostile_InitialFloodMakesNoConnections(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, nil)
	a, b := ns["a"], ns["b"]
	stillWorks(t, b, a, 1)
	hello, err := quicpkt.ClientHello(a.creds.ClientConfig("a"), []byte("stranger"))
	require.NoError(t, err)
	random := make([]byte, 64)
	rand.Read(random)
	var pkts [][]byte
	for i := range 3000 {
		dcid := binary.BigEndian.AppendUint64(nil, uint64(i))
		if i < 1500 {
			pkts = append(pkts, quicpkt.Garbage(dcid, []byte("stranger"), random))
		} else {
			pkt, err := quicpkt.Initial(dcid, []byte("stranger"), 0, quicpkt.CryptoFrame(nil, 0, hello))
			require.NoError(t, err)
			pkts = append(pkts, pkt)
		}
	}
	base := runtime.NumGoroutine()
	strangerSend(t, a.Addr(), pkts...)
	peak := 0
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		peak = max(peak, runtime.NumGoroutine()-base)
		strangers, _ := a.adm.pending()
		require.LessOrEqual(t, strangers, maxPendingStrangers)
		time.Sleep(5 * time.Millisecond) // sampling period
	}
	t.Logf("3000 Initials: at most %d more goroutines", peak)
	require.Less(t, peak, 8*maxPendingStrangers, "connections were made for the flood")

	// b restarts: its address is a peer's, its handshake is admitted.
	cfg := b.cfg
	require.NoError(t, b.Close())
	b2q, err := New(cfg)
	require.NoError(t, err)
	b2 := &node{QUIC: b2q, in: &inbox{}}
	require.NoError(t, b2.Start(b2.in.deliver, b2.in.report))
	t.Cleanup(func() { b2.Close() })
	strangerSend(t, a.Addr(), pkts[1500:]...)
	start := time.Now()
	sendUntil(t, b2, a, election.Message{Kind: election.MsgHeartbeat, Term: 2})
	t.Logf("the restarted peer got through the flood in %s", time.Since(start))
}
