//go:build linux

package transport

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/ipv4"
)

// udpFrom binds a UDP socket on host's any free port.
func udpFrom(t *testing.T, host string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// readsFrom returns the source of the next datagram c receives within a
// second, or an invalid address if none comes.
func readsFrom(t *testing.T, c *net.UDPConn) netip.AddrPort {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Second)))
	buf := make([]byte, 1500)
	_, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

// The kernel puts a peer's datagrams into the peers' socket, a stranger's
// from the same IP into the strangers' socket, for IPv4 and IPv6 and a
// dual-stack wildcard socket, and follows a change of the peers.
func TestSteer_KernelSeparatesPeersFromStrangers(t *testing.T) {
	for _, tc := range []struct{ listen, host string }{
		{"127.0.0.1:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
		{"[::]:0", "127.0.0.1"},
		{"[::]:0", "::1"},
	} {
		t.Run(tc.listen+" from "+tc.host, func(t *testing.T) {
			s, err := bindSteered(net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.listen)))
			if err != nil && tc.host == "::1" {
				t.Skipf("no IPv6 here: %v", err)
			}
			require.NoError(t, err)
			defer s.Close()
			to := netip.AddrPortFrom(netip.MustParseAddr(tc.host), uint16(s.LocalAddr().(*net.UDPAddr).Port))
			peer, other, stranger := udpFrom(t, tc.host), udpFrom(t, tc.host), udpFrom(t, tc.host)
			ap := func(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }
			require.NoError(t, s.setPeers([]netip.AddrPort{ap(other), ap(peer)}))
			for _, c := range []*net.UDPConn{peer, stranger} {
				_, err := c.WriteToUDPAddrPort([]byte("x"), to)
				require.NoError(t, err)
			}
			require.Equal(t, ap(peer), readsFrom(t, s.peer), "the peer's datagram in the peers' socket")
			require.Equal(t, ap(stranger), readsFrom(t, s.pub), "the stranger's datagram in the strangers' socket")

			require.NoError(t, s.setPeers([]netip.AddrPort{ap(stranger)})) // peer is a stranger now
			for _, c := range []*net.UDPConn{peer, stranger} {
				_, err := c.WriteToUDPAddrPort([]byte("x"), to)
				require.NoError(t, err)
			}
			require.Equal(t, ap(stranger), readsFrom(t, s.peer))
			require.Equal(t, ap(peer), readsFrom(t, s.pub))
		})
	}
}

// Without steering, a flood that fills the port's receive buffer drops a
// peer's datagram (the reason for steering); with it, the peer's datagram
// is kept, and handed to quic-go before the strangers' queued ahead of it.
func TestSteer_FloodCannotCrowdPeersOut(t *testing.T) {
	s, err := bindSteered(net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.SetReadBuffer(64<<10)) // a small buffer, quickly full
	to := s.LocalAddr().(*net.UDPAddr).AddrPort()
	peer, stranger := udpFrom(t, "127.0.0.1"), udpFrom(t, "127.0.0.1")
	peerAt := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	flood := func() {
		junk := make([]byte, 1200)
		for range 2000 { // far more than 64 KiB: the buffer overflows
			stranger.WriteToUDPAddrPort(junk, to)
		}
	}

	// One socket for all: what came before steering. (The peer's datagram
	// is as large as the flood's: a smaller one may fit in what a full
	// buffer has left.)
	flood()
	_, err = peer.WriteToUDPAddrPort(make([]byte, 1200), to)
	require.NoError(t, err)
	require.NotEqual(t, peerAt, readsFromAll(t, s.pub, peerAt), "unsteered: the peer's datagram is dropped behind the flood")
	require.Positive(t, socketDrops(s.pub), "the kernel counts the drops")
	require.Zero(t, socketDrops(s.peer))

	require.NoError(t, s.pub.SetReadDeadline(time.Time{}))
	require.NoError(t, s.setPeers([]netip.AddrPort{peerAt}))
	s.start()
	flood()
	_, err = peer.WriteToUDPAddrPort([]byte("peer"), to)
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for len(s.peerCh) == 0 && s.curPeer == nil {
		require.True(t, time.Now().Before(deadline), "the peer's datagram never read")
		time.Sleep(time.Millisecond) // polling period
	}
	ms := make([]ipv4.Message, 8)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 1500)}
		ms[i].OOB = make([]byte, 128)
	}
	n, err := s.ReadBatch(ms, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, "peer", string(ms[0].Buffers[0][:ms[0].N]), "the peer's datagram first")
	require.Equal(t, peerAt.String(), ms[0].Addr.String())
	n, err = s.ReadBatch(ms, 0)
	require.NoError(t, err)
	require.Positive(t, n)
	require.Equal(t, stranger.LocalAddr().String(), ms[0].Addr.String(), "then the strangers'")
	require.Zero(t, socketDrops(s.peer), "nothing dropped at the peers' socket")
}

// readsFromAll drains c and returns want if a datagram from want was among
// them, else an invalid address.
func readsFromAll(t *testing.T, c *net.UDPConn, want netip.AddrPort) netip.AddrPort {
	t.Helper()
	buf := make([]byte, 1500)
	for {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		_, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return netip.AddrPort{}
		}
		if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) == want {
			return want
		}
	}
}

// A read deadline in the past ends a waiting ReadBatch (quic-go's
// transport ends its reading goroutine so), and Close ends it for good.
func TestSteer_ReadBatchDeadlineAndClose(t *testing.T) {
	s, err := listenSteered(net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	require.NoError(t, err)
	ms := []ipv4.Message{{Buffers: [][]byte{make([]byte, 1500)}, OOB: make([]byte, 128)}}
	errc := make(chan error, 1)
	go func() {
		_, err := s.ReadBatch(ms, 0)
		errc <- err
	}()
	require.NoError(t, s.SetReadDeadline(time.Now()))
	select {
	case err := <-errc:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadBatch did not return at its deadline")
	}
	require.NoError(t, s.SetReadDeadline(time.Time{}))
	go func() {
		_, err := s.ReadBatch(ms, 0)
		errc <- err
	}()
	require.NoError(t, s.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadBatch did not return at Close")
	}
}

// The node reads strangers' datagrams no faster than strangerBudget (the
// kernel drops the rest): within any time, at most the burst, the budget
// for that time and what the goroutine read ahead. A loaded machine reads
// fewer, never more.
func TestSteer_StrangersWithinBudget(t *testing.T) {
	began := time.Now()
	s, err := listenSteered(net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.SetReadBuffer(8<<20))
	to := s.LocalAddr().(*net.UDPAddr).AddrPort()
	stranger := udpFrom(t, "127.0.0.1")
	junk := make([]byte, 100)
	for range 3 * strangerBurst {
		stranger.WriteToUDPAddrPort(junk, to)
	}
	ms := make([]ipv4.Message, 8)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 1500)}
		ms[i].OOB = make([]byte, 128)
	}
	read := 0
	require.NoError(t, s.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	for {
		n, err := s.ReadBatch(ms, 0)
		if err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
		read += n
	}
	bound := strangerBurst + int(time.Since(began).Seconds()*strangerBudget) + (steerQueue+1)*steerBatch
	require.Positive(t, read)
	require.LessOrEqual(t, read, bound, "strangers' datagrams read beyond the budget")
}
