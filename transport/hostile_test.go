package transport

import (
	"context"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport/internal/quicpkt"
	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"
)

// rogueDial opens a raw QUIC connection to addr with the given client TLS
// config, from a socket of its own: a stranger, or a peer that bypasses
// the transport to send arbitrary datagrams.
func rogueDial(t *testing.T, addr string, tc *tls.Config) (*quic.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return quic.DialAddr(ctx, addr, tc, &quic.Config{EnableDatagrams: true, HandshakeIdleTimeout: 2 * time.Second})
}

// strangerSend sends each packet to addr from a UDP socket of its own (a
// stranger, with no certificate).
func strangerSend(t *testing.T, addr net.Addr, pkts ...[]byte) {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	for _, p := range pkts {
		_, err := c.Write(p)
		require.NoError(t, err)
	}
}

// strangerInitial returns an Initial packet carrying frames for a new
// connection (a random destination connection id), as a stranger sends.
func strangerInitial(t *testing.T, frames []byte) []byte {
	t.Helper()
	dcid := make([]byte, 8)
	crand.Read(dcid)
	pkt, err := quicpkt.Initial(dcid, []byte("stranger"), 0, frames)
	require.NoError(t, err)
	return pkt
}

// stillWorks checks that a good message from a real peer still arrives.
func stillWorks(t *testing.T, from, to *node, term uint64) {
	t.Helper()
	sendUntil(t, from, to, election.Message{Kind: election.MsgHeartbeat, Term: term})
}

func TestHostile_RandomUDPBytes(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, nil)
	a := ns["a"]
	rng := rand.New(rand.NewPCG(1, 2))
	var pkts [][]byte
	for range 200 {
		b := make([]byte, 1+rng.IntN(1400))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		pkts = append(pkts, b)
	}
	strangerSend(t, a.Addr(), pkts...)
	eventually(t, func() bool { return a.Stats().Dropped.InvalidPacket > 0 }, "random bytes not counted: %+v", a.Stats().Dropped)
	stillWorks(t, ns["b"], a, 1)
	require.Zero(t, a.Stats().Dropped.Malformed)
}

func TestHostile_HandshakeFailures(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, func(c *Config) { c.ErrorInterval = time.Nanosecond }) // report each
	a := ns["a"]
	addr := a.Addr().String()
	dir := filepath.Dir(a.cfg.CAFile)
	ours, err := LoadTLS(filepath.Join(dir, "b.pem"), filepath.Join(dir, "b-key.pem"), a.cfg.CAFile, "b")
	require.NoError(t, err)
	otherDir := certDir(t, "b")
	theirs, err := LoadTLS(filepath.Join(otherDir, "b.pem"), filepath.Join(otherDir, "b-key.pem"), filepath.Join(otherDir, "ca.pem"), "b")
	require.NoError(t, err)

	cases := []struct {
		name string
		tc   func() *tls.Config
	}{
		{"client cert from another CA", func() *tls.Config {
			tc := theirs.ClientConfig("a")
			tc.RootCAs = ours.CAs // trusts a, but a does not trust it
			return tc
		}},
		{"no client cert", func() *tls.Config {
			tc := ours.ClientConfig("a")
			tc.Certificates = nil
			return tc
		}},
		{"junk chain", func() *tls.Config {
			return rogueClient(loadTestCA(t, dir).junkChain(t, "b", 20, elliptic.P256()))
		}},
		{"wrong ALPN", func() *tls.Config {
			tc := ours.ClientConfig("a")
			tc.NextProtos = []string{"h3"}
			return tc
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := rogueDial(t, addr, tc.tc())
			if err == nil {
				// TLS 1.3: the client may finish before the server rejects
				// its certificate; the server then closes the connection.
				select {
				case <-conn.Context().Done():
				case <-time.After(5 * time.Second):
					t.Fatal("server kept a connection with a bad client")
				}
				conn.CloseWithError(0, "")
			}
			eventually(t, func() bool { return a.Stats().Dropped.HandshakeFailed >= uint64(i+1) },
				"handshake failure not counted: %+v", a.Stats().Dropped)
		})
	}
	stillWorks(t, ns["b"], a, 1)
	require.True(t, slicesContainsErr(a.in.errors(), ErrHandshakeFailed))
	require.True(t, slicesContainsErr(a.in.errors(), errChainTooLong), "%v", a.in.errors())
}

// startPeer starts node id, certificates from dir, at addrs[id], with one
// peer at addrs[peer]; mod may adjust the config first.
func startPeer(t *testing.T, dir, id, peer string, addrs map[string]string, mod func(*Config)) *node {
	t.Helper()
	cfg := nodeConfig(dir, id)
	cfg.Listen, cfg.Peers[peer] = addrs[id], addrs[peer]
	if mod != nil {
		mod(&cfg)
	}
	q, err := New(cfg)
	require.NoError(t, err)
	n := &node{QUIC: q, in: &inbox{}}
	require.NoError(t, q.Start(n.in.deliver, n.in.report))
	t.Cleanup(func() { q.Close() })
	return n
}

func TestHostile_DialerFromAnotherCA(t *testing.T) {
	// "a" dials (its id sorts first) with a certificate of another CA: both
	// ends count a failed handshake, and "a" reports a handshake failure,
	// not an unreachable peer, so its operator looks at the certificates.
	leakCheck(t)
	good := certDir(t, "a", "b")
	rogue := certDir(t, "a")
	addrs := map[string]string{"a": freeUDPAddr(t), "b": freeUDPAddr(t)}
	a, b := startPeer(t, rogue, "a", "b", addrs, nil), startPeer(t, good, "b", "a", addrs, nil)
	a.Send(election.Message{Kind: election.MsgHeartbeat, To: "b", Term: 1})
	eventually(t, func() bool { return a.Stats().Dropped.HandshakeFailed > 0 && b.Stats().Dropped.HandshakeFailed > 0 },
		"handshake failures not counted on both ends: a %+v, b %+v", a.Stats().Dropped, b.Stats().Dropped)
	require.True(t, slicesContainsErr(a.in.errors(), ErrHandshakeFailed), "a reports %v", a.in.errors())
	require.Empty(t, b.in.messages(), "nothing from an untrusted peer is delivered")
}

func TestHostile_ValidCertOfUnknownNode(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a", "b", "mallory")
	cfg := nodeConfig(dir, "a")
	bAddr := freeUDPAddr(t)
	cfg.Peers["b"] = bAddr
	aq, err := New(cfg)
	require.NoError(t, err)
	a := &node{QUIC: aq, in: &inbox{}}
	require.NoError(t, a.Start(a.in.deliver, a.in.report))
	defer a.Close()

	mal, err := LoadTLS(filepath.Join(dir, "mallory.pem"), filepath.Join(dir, "mallory-key.pem"), cfg.CAFile, "mallory")
	require.NoError(t, err)
	conn, err := rogueDial(t, a.Addr().String(), mal.ClientConfig("a"))
	require.NoError(t, err) // the certificate is valid: the handshake succeeds
	b, _ := Encode(nil, "test", election.Message{Kind: election.MsgVote, From: "mallory", To: "a", Term: 99})
	_ = conn.SendDatagram(b)
	select {
	case <-conn.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection of a non-peer was not closed")
	}
	var appErr *quic.ApplicationError
	require.ErrorAs(t, context.Cause(conn.Context()), &appErr)
	require.Equal(t, codeUnknownPeer, appErr.ErrorCode)
	eventually(t, func() bool { return a.Stats().Dropped.UnknownPeer == 1 }, "unknown peer not counted")
	require.Empty(t, a.in.messages())
	require.True(t, slicesContainsErr(a.in.errors(), ErrUnknownPeer))

	// b, a real peer, still gets through.
	bcfg := nodeConfig(dir, "b")
	bcfg.Listen = bAddr
	bcfg.Peers["a"] = a.Addr().String()
	bq, err := New(bcfg)
	require.NoError(t, err)
	bn := &node{QUIC: bq, in: &inbox{}}
	require.NoError(t, bn.Start(bn.in.deliver, bn.in.report))
	defer bn.Close()
	stillWorks(t, bn, a, 1)
	require.NoError(t, bn.Close())
	require.NoError(t, a.Close())
}

func TestHostile_PeerSendsGarbage(t *testing.T) {
	leakCheck(t)
	// a and b are real; c is a valid peer of a that talks to a through a raw
	// QUIC connection of its own, to send what the transport never would.
	dir := certDir(t, "a", "b", "c")
	addrs := map[string]string{"a": freeUDPAddr(t), "b": freeUDPAddr(t), "c": freeUDPAddr(t)}
	ns := map[string]*node{}
	for _, id := range []string{"a", "b"} {
		cfg := nodeConfig(dir, id)
		cfg.Listen = addrs[id]
		cfg.MaxMessageSize = 512
		cfg.ErrorInterval = time.Hour // one report per reason
		for p, addr := range addrs {
			if p != id {
				cfg.Peers[p] = addr
			}
		}
		q, err := New(cfg)
		require.NoError(t, err)
		n := &node{QUIC: q, in: &inbox{}}
		require.NoError(t, q.Start(n.in.deliver, n.in.report))
		t.Cleanup(func() { q.Close() })
		ns[id] = n
	}
	a := ns["a"]
	cc, err := LoadTLS(filepath.Join(dir, "c.pem"), filepath.Join(dir, "c-key.pem"), a.cfg.CAFile, "c")
	require.NoError(t, err)
	conn, err := rogueDial(t, a.Addr().String(), cc.ClientConfig("a"))
	require.NoError(t, err)
	defer conn.CloseWithError(0, "")

	enc := func(cluster string, m election.Message) []byte {
		b, err := Encode(nil, cluster, m)
		require.NoError(t, err)
		return b
	}
	good := election.Message{Kind: election.MsgVote, From: "c", To: "a", Term: 3}
	dropped := func() DropStats { return a.Stats().Dropped }
	cases := []struct {
		name  string
		frame []byte
		count func(DropStats) uint64
		err   error
	}{
		{"malformed msgpack", []byte{0xc1, 0xff, 0x00}, func(d DropStats) uint64 { return d.Malformed }, ErrMalformed},
		{"wrong cluster", enc("other", good), func(d DropStats) uint64 { return d.WrongCluster }, ErrWrongCluster},
		{"unknown version", rawMap(t, "version", 9, "cluster", "test"), func(d DropStats) uint64 { return d.BadVersion }, ErrBadVersion},
		{"oversized datagram", make([]byte, 900), func(d DropStats) uint64 { return d.Oversized }, ErrOversized},
		{"spoofed From", enc("test", election.Message{Kind: election.MsgVote, From: "b", To: "a", Term: 3}),
			func(d DropStats) uint64 { return d.SpoofedSender }, ErrSpoofedSender},
		{"addressed to another node", enc("test", election.Message{Kind: election.MsgVote, From: "c", To: "z", Term: 3}),
			func(d DropStats) uint64 { return d.Malformed }, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.count(dropped())
			eventually(t, func() bool {
				require.NoError(t, conn.SendDatagram(c.frame))
				time.Sleep(time.Millisecond) // pacing of the retry (datagrams may be lost)
				return c.count(dropped()) > before
			}, "%s not counted: %+v", c.name, dropped())
			require.True(t, slicesContainsErr(a.in.errors(), c.err))
		})
	}
	t.Run("oversized stream", func(t *testing.T) {
		before := dropped().Oversized
		s, err := conn.OpenUniStream()
		require.NoError(t, err)
		// The receiver stops reading after 513 bytes: the write or the close
		// may see that (STOP_SENDING), which is the point.
		_, _ = s.Write(make([]byte, 5000))
		_ = s.Close()
		eventually(t, func() bool { return dropped().Oversized > before }, "oversized stream not counted")
	})
	t.Run("flood", func(t *testing.T) {
		flood := enc("test", election.Message{Kind: election.MsgHeartbeat, From: "c", To: "a", Term: 1})
		for range 20000 {
			if err := conn.SendDatagram(flood); err != nil {
				break
			}
		}
		require.NoError(t, conn.Context().Err(), "a flood of valid messages must not get the connection closed")
	})
	require.Zero(t, countIf(a.in.messages(), func(m election.Message) bool { return m.From != "c" && m.From != "b" }))
	t.Run("a good message still arrives", func(t *testing.T) {
		eventually(t, func() bool {
			require.NoError(t, conn.SendDatagram(enc("test", good)))
			time.Sleep(time.Millisecond)
			return a.in.has(func(m election.Message) bool { return m.Kind == election.MsgVote && m.Term == 3 && m.From == "c" })
		}, "good message from c never arrived")
		stillWorks(t, ns["b"], a, 2)
	})
	// Rate limit: each reason reported once although several were dropped.
	seen := map[Reason]int{}
	for _, e := range a.in.errors() {
		var de *DropError
		require.ErrorAs(t, e, &de)
		seen[de.Reason]++
	}
	require.Greater(t, a.Stats().Dropped.Malformed, uint64(1))
	for r, n := range seen {
		require.Equal(t, 1, n, "reason %v reported %d times within ErrorInterval", r, n)
	}
}

func slicesContainsErr(errs []error, target error) bool {
	for _, e := range errs {
		if errors.Is(e, target) {
			return true
		}
	}
	return false
}

func countIf(ms []election.Message, f func(election.Message) bool) int {
	n := 0
	for _, m := range ms {
		if f(m) {
			n++
		}
	}
	return n
}
