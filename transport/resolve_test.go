package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
)

func TestParsePeerAddr(t *testing.T) {
	for _, tc := range []struct {
		in, host string
		port     uint16
		literal  bool
	}{
		{"10.0.0.2:7000", "10.0.0.2", 7000, true},
		{"[::1]:7001", "::1", 7001, true},
		{"[fe80::1%eth0]:7001", "fe80::1%eth0", 7001, true},
		{"[::ffff:10.0.0.2]:7000", "::ffff:10.0.0.2", 7000, true},
		{"graft-1.graft.ns.svc.cluster.local:7000", "graft-1.graft.ns.svc.cluster.local", 7000, false},
		{"graft-1.graft.ns.svc.:7000", "graft-1.graft.ns.svc.", 7000, false},
		{"localhost:65535", "localhost", 65535, false},
		{"_srv.example:1", "_srv.example", 1, false},
		{"n1.2.x9:7000", "n1.2.x9", 7000, false}, // all-digit labels only not last
	} {
		a, err := parsePeerAddr(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.host, a.host, tc.in)
		require.Equal(t, tc.port, a.port, tc.in)
		require.Equal(t, tc.literal, !a.named(), tc.in)
		require.Equal(t, tc.in, a.raw)
	}
	// An IPv4-mapped literal is dialled, and recognised, as IPv4.
	a, _ := parsePeerAddr("[::ffff:10.0.0.2]:7000")
	require.Equal(t, netip.MustParseAddrPort("10.0.0.2:7000"), a.ip)

	long := strings.Repeat("a", 63)
	for _, in := range []string{
		"", "localhost", "::1:7000", "[::1]", "host:", ":7000", "host:0", "host:65536", "host:http", "host:+80", "host:-1",
		"ho st:7000", "host/x:7000", "host\x00:7000", "-host:7000", "host-.example:7000", "a..b:7000", ".:7000",
		"10.0.0.256:7000", "10.0.0:7000", "1.2.3.4.5:7000", "[10.0.0.1:7000",
		strings.Repeat(long+".", 4) + "a:7000", // 256 characters
		long + "a.example:7000",                // a 64-character label
		"héllo.example:7000",
	} {
		_, err := parsePeerAddr(in)
		require.Error(t, err, "%q", in)
		require.ErrorContains(t, CheckPeerAddr(in), "transport: ")
	}
	require.NoError(t, CheckPeerAddr("graft-1.graft.ns.svc:7000"))
}

func TestIPNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0": "ip", "::": "ip", "127.0.0.1": "ip4", "::ffff:127.0.0.1": "ip4", "::1": "ip6", "fd00::2": "ip6",
	} {
		require.Equal(t, want, ipNetwork(netip.MustParseAddr(in)), in)
	}
	require.Equal(t, "ip", ipNetwork(netip.Addr{}), "\":7400\" binds every address")
	require.Equal(t, "ip", ipNetwork(netip.MustParseAddr("::ffff:0.0.0.0")), "0.0.0.0 in its 16-byte form")
}

func TestAddrBook(t *testing.T) {
	b := newAddrBook()
	x, y, z := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:1"), netip.MustParseAddrPort("[fd00::1]:1")
	b.set("n1", []netip.AddrPort{x, z})
	require.True(t, b.isAt("n1", x))
	require.True(t, b.isAt("n1", z))
	require.False(t, b.isAt("n2", x))
	b.set("n1", []netip.AddrPort{y}) // moved: the old addresses are no one's
	_, ok := b.at(x)
	require.False(t, ok)
	id, ok := b.at(y)
	require.True(t, ok)
	require.Equal(t, "n1", id)
	require.Equal(t, []netip.AddrPort{y}, b.of("n1"))
}

// TestPeer_ResolveKeepsSocketFamily: a lookup keeps the addresses the
// socket can reach, once each; a failed one keeps the addresses known.
func TestPeer_ResolveKeepsSocketFamily(t *testing.T) {
	dns := &fakeDNS{}
	dns.set("b.test", "::1", "127.0.0.1", "::ffff:127.0.0.1", "127.0.0.2")
	where, err := parsePeerAddr("b.test:7")
	require.NoError(t, err)
	for nw, want := range map[string][]string{
		"ip4": {"127.0.0.1:7", "127.0.0.2:7"}, "ip6": {"[::1]:7"}, "ip": {"[::1]:7", "127.0.0.1:7", "127.0.0.2:7"},
	} {
		q := &QUIC{book: newAddrBook(), lookup: dns.lookup, ipNet: nw}
		p := &peer{q: q, id: "b", where: where}
		got, err := p.resolve(context.Background())
		require.NoError(t, err, nw)
		var s []string
		for _, ap := range got {
			s = append(s, ap.String())
		}
		require.Equal(t, want, s, nw)
		require.Equal(t, got, q.book.of("b"))
		require.Equal(t, want[0], p.remote())

		dns.set("b.test") // gone: the last addresses stay
		_, err = p.resolve(context.Background())
		require.ErrorContains(t, err, `cannot resolve "b.test"`)
		require.Equal(t, got, q.book.of("b"))
		dns.set("b.test", "::1", "127.0.0.1", "::ffff:127.0.0.1", "127.0.0.2")
	}
	dns.set("v6only.test", "::1")
	where, _ = parsePeerAddr("v6only.test:7")
	p := &peer{q: &QUIC{book: newAddrBook(), lookup: dns.lookup, ipNet: "ip4"}, id: "c", where: where}
	_, err = p.resolve(context.Background())
	require.ErrorIs(t, err, errNoUsableAddr)
	require.Equal(t, "v6only.test:7", p.remote(), "never resolved: the address as configured")
}

// fakeDNS is a name table that a transport's lookup asks instead of a
// resolver: tests send nothing off this machine, DNS queries included.
type fakeDNS struct {
	mu      sync.Mutex
	names   map[string][]netip.Addr
	lookups atomic.Int64
}

// set maps host to ips (none: the name does not exist).
func (d *fakeDNS) set(host string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.names == nil {
		d.names = map[string][]netip.Addr{}
	}
	d.names[host] = nil
	for _, ip := range ips {
		d.names[host] = append(d.names[host], netip.MustParseAddr(ip))
	}
}

func (d *fakeDNS) lookup(_ context.Context, network, host string) ([]netip.Addr, error) {
	d.lookups.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.names[host]) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return d.names[host], nil
}

// namedNode starts node id of dir listening on listen, knowing each peer
// as "<peer>.graft.test:<port>", names resolved by dns.
func namedNode(t *testing.T, dir, id, listen string, ports map[string]int, dns *fakeDNS, mod func(*Config)) *node {
	t.Helper()
	cfg := nodeConfig(dir, id)
	cfg.Listen = listen
	for p, port := range ports {
		if p != id {
			cfg.Peers[p] = fmt.Sprintf("%s.graft.test:%d", p, port)
		}
	}
	if mod != nil {
		mod(&cfg)
	}
	q, err := New(cfg)
	require.NoError(t, err)
	q.lookup = dns.lookup
	n := &node{QUIC: q, in: &inbox{}}
	require.NoError(t, q.Start(n.in.deliver, n.in.report))
	t.Cleanup(func() { q.Close() })
	return n
}

// loopbackPorts returns a port per id, free on 127.0.0.1 a moment ago.
func loopbackPorts(t *testing.T, ids ...string) map[string]int {
	ports := map[string]int{}
	for _, id := range ids {
		ap := netip.MustParseAddrPort(freeUDPAddr(t))
		ports[id] = int(ap.Port())
	}
	return ports
}

// TestQUIC_PeerNameResolvesLate: names that do not resolve at start are no
// configuration error; each node reports them at most once per
// ErrorInterval while it retries, and the pair connects once they resolve.
func TestQUIC_PeerNameResolvesLate(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a", "b")
	ports := loopbackPorts(t, "a", "b")
	dns := &fakeDNS{}
	const interval = 300 * time.Millisecond
	slow := func(c *Config) { c.ErrorInterval = interval }
	start := time.Now()
	a := namedNode(t, dir, "a", fmt.Sprintf("127.0.0.1:%d", ports["a"]), ports, dns, slow)
	b := namedNode(t, dir, "b", fmt.Sprintf("127.0.0.1:%d", ports["b"]), ports, dns, slow)

	unresolved := func(n *node, peer string) int {
		k := 0
		for _, err := range n.in.errors() {
			var de *DropError
			if errors.As(err, &de) && de.Reason == ReasonUnreachable && de.Peer == peer &&
				strings.Contains(err.Error(), fmt.Sprintf("cannot resolve %q", peer+".graft.test")) {
				var dnsErr *net.DNSError
				require.ErrorAs(t, err, &dnsErr, "the resolver's error is kept")
				require.ErrorIs(t, err, ErrUnreachable)
				k++
			}
		}
		return k
	}
	// The dialer (a) and the acceptor's knocks (b) both look names up.
	// (b knocks at a at Start only, with nothing to send.)
	eventually(t, func() bool { return unresolved(a, "b") >= 3 && unresolved(b, "a") >= 1 },
		"unresolvable names not reported")
	elapsed := time.Since(start)
	for _, x := range []struct {
		n    *node
		peer string
	}{{a, "b"}, {b, "a"}} {
		got, most := unresolved(x.n, x.peer), int(elapsed/interval)+1
		require.LessOrEqual(t, got, most, "%s reported %s %d times in %s (ErrorInterval %s)", x.n.ID(), x.peer, got, elapsed, interval)
	}
	require.Greater(t, dns.lookups.Load(), int64(unresolved(a, "b")+unresolved(b, "a")), "every failed lookup was reported")

	dns.set("a.graft.test", "127.0.0.1")
	dns.set("b.graft.test", "127.0.0.1")
	sendUntil(t, a, b, election.Message{Kind: election.MsgHeartbeat, Term: 1})
	sendUntil(t, b, a, election.Message{Kind: election.MsgHeartbeatResp, Term: 1})
	require.Zero(t, a.Stats().Dropped.Total()+b.Stats().Dropped.Total())
}

// TestQUIC_PeerBackAtNewAddress: a node crashes (its socket vanishes, no
// CONNECTION_CLOSE), comes back on another IP with the same port, and its
// name now maps there. Its peer, which was not restarted, reaches it again:
// as the dialer of the pair, by looking the name up when it redials (the
// new process's knock tells it to); as the acceptor, by looking the name up
// when the new process's connection arrives while the old one seems alive,
// so the newcomer is no duplicate holder of the certificate.
func TestQUIC_PeerBackAtNewAddress(t *testing.T) {
	for _, moving := range []string{"a", "b"} { // a dials the pair's connection, b accepts it
		t.Run(moving+" moves", func(t *testing.T) {
			leakCheck(t)
			dir := certDir(t, "a", "b")
			ports := loopbackPorts(t, "a", "b")
			dns := &fakeDNS{}
			dns.set("a.graft.test", "127.0.0.1")
			dns.set("b.graft.test", "127.0.0.1")
			ns := map[string]*node{}
			for _, id := range []string{"a", "b"} {
				ns[id] = namedNode(t, dir, id, fmt.Sprintf("127.0.0.1:%d", ports[id]), ports, dns, nil)
			}
			sendUntil(t, ns["a"], ns["b"], election.Message{Kind: election.MsgHeartbeat, Term: 1})
			sendUntil(t, ns["b"], ns["a"], election.Message{Kind: election.MsgHeartbeatResp, Term: 1})

			time.Sleep(2 * knockGrace) // the connection is not a young one (a knock would not count)

			stay := map[string]string{"a": "b", "b": "a"}[moving]
			require.NoError(t, ns[moving].sock.Close()) // the crash
			dns.set(moving+".graft.test", "127.0.0.2")
			moved := namedNode(t, dir, moving, fmt.Sprintf("127.0.0.2:%d", ports[moving]), ports, dns, nil)

			start := time.Now()
			sendUntil(t, ns[stay], moved, election.Message{Kind: election.MsgHeartbeat, Term: 2})
			sendUntil(t, moved, ns[stay], election.Message{Kind: election.MsgHeartbeatResp, Term: 2})
			t.Logf("%s back at 127.0.0.2 after %s", moving, time.Since(start).Round(time.Millisecond))
			require.Less(t, time.Since(start), idleTimeout-time.Second, "reconnect took as long as an idle timeout")
			require.True(t, ns[stay].book.isAt(moving, netip.MustParseAddrPort(fmt.Sprintf("127.0.0.2:%d", ports[moving]))))
			require.Zero(t, ns[stay].Stats().Dropped.DuplicatePeer, "%v", ns[stay].in.errors())
			ns[moving].Close() // its socket is closed already: an error
		})
	}
}

// TestQUIC_MovedDialerWhileNameIsStale: the dialer of a pair comes back
// on another IP while its name still maps to the old one (a resolver's
// cache) and the old connection seems alive. The acceptor closes the
// newcomer without refusing its address, says why (once per
// ErrorInterval), and the dialer retries with a backoff, not in a tight
// loop; once the name maps to the new address, the next attempt wins.
func TestQUIC_MovedDialerWhileNameIsStale(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a", "b")
	ports := loopbackPorts(t, "a", "b")
	dns := &fakeDNS{}
	dns.set("a.graft.test", "127.0.0.1")
	dns.set("b.graft.test", "127.0.0.1")
	a := namedNode(t, dir, "a", fmt.Sprintf("127.0.0.1:%d", ports["a"]), ports, dns, nil)
	b := namedNode(t, dir, "b", fmt.Sprintf("127.0.0.1:%d", ports["b"]), ports, dns, nil)
	sendUntil(t, a, b, election.Message{Kind: election.MsgHeartbeat, Term: 1})
	require.NoError(t, a.sock.Close()) // a crashes; b's connection from it looks alive for idleTimeout
	a2 := namedNode(t, dir, "a", fmt.Sprintf("127.0.0.2:%d", ports["a"]), ports, dns, nil)
	stale := time.Now()

	dups := func() []error {
		var out []error
		for _, err := range b.in.errors() {
			if errors.Is(err, ErrDuplicatePeer) {
				out = append(out, err)
			}
		}
		return out
	}
	eventually(t, func() bool { return len(dups()) > 0 }, "b did not report the newcomer: %v", b.in.errors())
	require.Contains(t, dups()[0].Error(), "while its name maps to")
	require.False(t, b.adm.dups.blocked(netip.MustParseAddrPort(fmt.Sprintf("127.0.0.2:%d", ports["a"])), time.Now()),
		"the newcomer's address must not be refused")
	dns.set("a.graft.test", "127.0.0.2")
	sendUntil(t, a2, b, election.Message{Kind: election.MsgHeartbeat, Term: 2})
	elapsed := time.Since(stale)
	require.Less(t, elapsed, idleTimeout-time.Second, "b kept the dead connection until it timed out")
	// With refusedMin doubling up to backoffMax, a handful of attempts,
	// not one per round trip.
	attempts := b.Stats().Dropped.DuplicatePeer
	require.LessOrEqual(t, attempts, uint64(elapsed/refusedMin)+1, "a2 redialled in a tight loop")
	require.LessOrEqual(t, len(dups()), int(elapsed/DefaultErrorInterval)+1)
	t.Logf("stale for %s: %d attempts refused, %d reported", elapsed.Round(time.Millisecond), attempts, len(dups()))
	a.Close()
}

// TestQUIC_PeerNamedLocalhost: the real resolver (no fake): "localhost"
// comes from /etc/hosts, so no query leaves the machine. Go returns a hosts
// file's IPv4 address in its 16-byte form; the node on 127.0.0.1 must
// still count it as IPv4 and dial it.
func TestQUIC_PeerNamedLocalhost(t *testing.T) {
	leakCheck(t)
	ids := []string{"a", "b"}
	ns := cluster(t, ids, func(c *Config) {
		for p, addr := range c.Peers {
			c.Peers[p] = "localhost:" + strings.TrimPrefix(addr, "127.0.0.1:")
		}
	})
	sendUntil(t, ns["a"], ns["b"], election.Message{Kind: election.MsgVote, Term: 1})
	sendUntil(t, ns["b"], ns["a"], election.Message{Kind: election.MsgVoteResp, Term: 1})
	for _, id := range ids {
		require.Zero(t, ns[id].Stats().Dropped.Total()-ns[id].Stats().Dropped.InvalidPacket, "%s: %v", id, ns[id].in.errors())
	}
}

// TestQUIC_IPv6AndWildcardListen: a node on [::1], one on "[::]" and one on
// "0.0.0.0" (both bind IPv4 and IPv6), peers given as IPv6 and IPv4
// literals; every pair exchanges messages both ways.
func TestQUIC_IPv6AndWildcardListen(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a", "b", "c")
	ports := loopbackPorts(t, "a", "b", "c")
	listen := map[string]string{"a": "[::1]:%d", "b": "[::]:%d", "c": "0.0.0.0:%d"}
	peers := map[string]map[string]string{ // who reaches whom at which address
		"a": {"b": "[::1]:%d", "c": "[::1]:%d"},
		"b": {"a": "[::1]:%d", "c": "127.0.0.1:%d"},
		"c": {"a": "[::1]:%d", "b": "127.0.0.1:%d"},
	}
	ns := map[string]*node{}
	for _, id := range []string{"a", "b", "c"} {
		cfg := nodeConfig(dir, id)
		cfg.Listen = fmt.Sprintf(listen[id], ports[id])
		for p, f := range peers[id] {
			cfg.Peers[p] = fmt.Sprintf(f, ports[p])
		}
		q, err := New(cfg)
		require.NoError(t, err, "%s", id)
		ns[id] = &node{QUIC: q, in: &inbox{}}
		require.NoError(t, q.Start(ns[id].in.deliver, ns[id].in.report))
		t.Cleanup(func() { q.Close() })
	}
	for from := range ns {
		for to := range ns {
			if from != to {
				sendUntil(t, ns[from], ns[to], election.Message{Kind: election.MsgVote, Term: 4})
			}
		}
	}
	for _, n := range ns {
		require.Zero(t, n.Stats().Dropped.Total()-n.Stats().Dropped.InvalidPacket, "%s: %v", n.ID(), n.in.errors())
		require.NoError(t, n.Close())
	}
}

// TestNew_PeerOfAnotherIPFamily: an IPv6 peer of a node bound to an IPv4
// address (or the reverse) could never be dialled: a configuration error.
// A name is not checked (it may resolve to either family; lookups ask for
// the socket's family only).
func TestNew_PeerOfAnotherIPFamily(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a", "b")
	for _, tc := range []struct{ listen, peer string }{{"127.0.0.1:0", "[::1]:7001"}, {"[::1]:0", "127.0.0.1:7001"}} {
		cfg := nodeConfig(dir, "a")
		cfg.Listen, cfg.Peers["b"] = tc.listen, tc.peer
		_, err := New(cfg)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, "%+v", tc)
		require.Equal(t, "Peers", ce.Field)
		require.Contains(t, err.Error(), "another IP family")
	}
	cfg := nodeConfig(dir, "a")
	cfg.Peers["b"] = "b.graft.test:7001" // New resolves nothing
	q, err := New(cfg)
	require.NoError(t, err)
	require.Equal(t, "ip4", q.ipNet)
	require.NoError(t, q.Close())
}
