package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"
)

// A running 3-node cluster (election nodes over real QUIC on loopback)
// rotates its node certificates, then its CA, as an operator would: every
// step rewrites files in place and the nodes pick them up (by themselves or
// through ReloadTLS). After each step every pair of nodes reconnects, so
// each node's new certificate and CA file are used in real handshakes.
// Throughout: the leader never changes, the term never moves, and no
// handshake fails. Then a corrupt certificate file is reported and changes
// nothing, and a node still holding a certificate of the removed CA is
// refused (so the handshakes counted could fail).

// Timings: a reconnection takes a handshake (a few ms, tens under -race on a
// loaded machine), far below ElectionMin, so that only a fault of the
// rotation could move the leadership.
// A 2-core machine running other tests at a load of 15 starved a node of
// 600 ms.
const (
	rotHeartbeat   = 100 * time.Millisecond
	rotElectionMin = 2 * time.Second
	rotElectionMax = 3 * time.Second
)

// rotNode is one node of the rotation cluster: its files in a directory of
// its own, as on a machine of its own.
type rotNode struct {
	id  string
	dir string
	q   *QUIC
	n   *election.Node
	cfg Config

	mu   sync.Mutex
	errs []error // reported by the transport
}

func (r *rotNode) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// recording is a node's transport, its reports recorded on their way to
// the election (whose callback queue may coalesce them).
type recording struct {
	*QUIC
	n *rotNode
}

func (r recording) Start(deliver func(election.Message), report func(error)) error {
	return r.QUIC.Start(deliver, func(err error) {
		r.n.mu.Lock()
		r.n.errs = append(r.n.errs, err)
		r.n.mu.Unlock()
		report(err)
	})
}

// rotCluster is the cluster and what it saw.
type rotCluster struct {
	t      *testing.T
	nodes  []*rotNode
	mu     sync.Mutex
	events []rotEvent // every state and leader change, from the start
	log    []string   // every node's log lines, shown if the test fails
}

func (c *rotCluster) logf(format string, args ...any) {
	line := time.Now().Format("15:04:05.000000 ") + fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.log = append(c.log, line)
	c.mu.Unlock()
}

// rotEvent is a state change (to set) or a leader change (leader set) of
// node id.
type rotEvent struct {
	id, leader string
	to         election.State
	term       uint64
}

func (c *rotCluster) saw(e rotEvent) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

// moves returns the events that the election of l at term could not have
// caused: a later term, another leader, l following, another leading.
// (The callbacks of that election may come after every node follows l;
// within a term a node only becomes candidate by starting it.)
func (c *rotCluster) moves(l string, term uint64) []rotEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var bad []rotEvent
	for _, e := range c.events {
		switch {
		case e.term < term: // the start's elections
		case e.term > term,
			e.leader != "" && e.leader != l,
			e.leader == "" && e.to == election.StateClosed,
			e.leader == "" && e.id == l && e.to == election.StateFollower,
			e.leader == "" && e.id != l && e.to == election.StateLeader:
			bad = append(bad, e)
		}
	}
	return bad
}

// install gives node id the certificate and key of src (a certDir) and the
// CA bundle made of the ca.pem of each of cas, replacing its files
// atomically.
func (c *rotCluster) install(n *rotNode, src string, cas ...string) {
	if src != "" {
		writeFile(c.t, n.cfg.CertFile, readFile(c.t, filepath.Join(src, n.id+".pem")))
		writeFile(c.t, n.cfg.KeyFile, readFile(c.t, filepath.Join(src, n.id+"-key.pem")))
	}
	if len(cas) > 0 {
		var bundle []byte
		for _, ca := range cas {
			bundle = append(bundle, readFile(c.t, filepath.Join(ca, "ca.pem"))...)
		}
		writeFile(c.t, n.cfg.CAFile, bundle)
	}
}

func startRotCluster(t *testing.T, certs string, ids []string) *rotCluster {
	t.Helper()
	c := &rotCluster{t: t}
	t.Cleanup(func() {
		if t.Failed() {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, l := range c.log {
				t.Log(l)
			}
		}
	})
	cfgs := meshConfigs(t, certs, ids)
	state := t.TempDir()
	for _, id := range ids {
		n := &rotNode{id: id, dir: t.TempDir(), cfg: cfgs[id]}
		n.cfg.Cluster = "rot"
		n.cfg.ErrorInterval = time.Nanosecond // every drop reported, to say why
		n.cfg.Logf = c.logf
		n.cfg.CertFile = filepath.Join(n.dir, "node.pem")
		n.cfg.KeyFile = filepath.Join(n.dir, "node-key.pem")
		n.cfg.CAFile = filepath.Join(n.dir, "ca.pem")
		c.install(n, certs, certs)
		q, err := New(n.cfg)
		require.NoError(t, err)
		n.q = q
		ec := election.DefaultConfig()
		ec.Cluster, ec.ID = "rot", id
		ec.StatePath = filepath.Join(state, id+".state")
		ec.Heartbeat, ec.ElectionMin, ec.ElectionMax = rotHeartbeat, rotElectionMin, rotElectionMax
		for p := range n.cfg.Peers {
			ec.Peers = append(ec.Peers, p)
		}
		ec.OnLog = func(_ election.LogLevel, msg string) { c.logf("%s", msg) }
		ec.OnLeaderChange = func(leader string, term uint64) {
			if leader == "" {
				leader = "(none)"
			}
			c.saw(rotEvent{id: id, leader: leader, term: term})
		}
		ec.OnStateChange = func(_, to election.State, term uint64) {
			c.saw(rotEvent{id: id, to: to, term: term})
		}
		n.n, err = election.New(ec, recording{q, n})
		require.NoError(t, err)
		t.Cleanup(func() { n.n.Close() })
		c.nodes = append(c.nodes, n)
	}
	return c
}

// leader waits for one node to lead with the others following it.
func (c *rotCluster) leader() *rotNode {
	var l *rotNode
	require.Eventually(c.t, func() bool {
		l = nil
		for _, n := range c.nodes {
			if n.n.IsLeader() {
				l = n
			}
		}
		if l == nil {
			return false
		}
		for _, n := range c.nodes {
			if n != l && (n.n.Leader() != l.id || n.n.Term() != l.n.Term()) {
				return false
			}
		}
		return true
	}, 15*time.Second, time.Millisecond, "no leader that every node follows")
	return l
}

// reconnect closes every pair's connection, one pair at a time, and waits
// until the pair has a new one: the dialer (the id that sorts first)
// redials at once, so every node presents its current certificate and
// checks its peer's with its current CA file. It returns the new
// connections' client certificate serials by "dialer>acceptor".
func (c *rotCluster) reconnect() map[string]string {
	serials := map[string]string{}
	for _, acc := range c.nodes {
		for _, dia := range c.nodes {
			if dia.id >= acc.id {
				continue
			}
			var old *quic.Conn
			require.Eventually(c.t, func() bool { // a pair may still be connecting at the start
				acc.q.mu.Lock()
				old = acc.q.inbound[dia.id]
				acc.q.mu.Unlock()
				return old != nil
			}, 10*time.Second, time.Millisecond, "%s has no connection from %s", acc.id, dia.id)
			old.CloseWithError(codeReplaced, "test: reconnect after a rotation") // the dialer redials at once
			var now *quic.Conn
			require.Eventually(c.t, func() bool {
				acc.q.mu.Lock()
				now = acc.q.inbound[dia.id]
				acc.q.mu.Unlock()
				return now != nil && now != old && now.Context().Err() == nil
			}, 10*time.Second, time.Millisecond, "%s did not reconnect to %s", dia.id, acc.id)
			cert := now.ConnectionState().TLS.PeerCertificates[0]
			serials[dia.id+">"+acc.id] = cert.SerialNumber.String()
		}
	}
	return serials
}

// check asserts what must hold after every step: the same leader and term
// as at the start, nobody moved, no handshake refused for its certificate
// (every failed handshake since the start, base, is reported with its
// cause, and none is a TLS error), nothing else reported but stray packets
// of the connections closed on purpose and dials that timed out. It returns the handshakes counted
// as failed that were abandoned, not refused: under load a dialer may take
// longer to redial than its peer waits before it knocks (conn.go), and the
// knock, no longer needed, can end before its handshake did.
func (c *rotCluster) check(step string, leader *rotNode, term uint64, base map[string]uint64) (abandoned int) {
	c.t.Helper()
	for _, n := range c.nodes {
		require.Equal(c.t, term, n.n.Term(), "%s: term of %s", step, n.id)
		require.Equal(c.t, leader.id, n.n.Leader(), "%s: leader seen by %s", step, n.id)
		var errs []string
		failed := 0
		for _, err := range n.errors() {
			switch {
			case errors.Is(err, ErrInvalidPacket):
			case errors.Is(err, ErrUnreachable): // a dial timed out: load, not certificates
			case errors.Is(err, ErrHandshakeFailed) && !refused(err):
				failed++
			default:
				errs = append(errs, err.Error())
			}
		}
		require.Empty(c.t, errs, "%s: errors reported at %s", step, n.id)
		require.Equal(c.t, base[n.id]+uint64(failed), n.q.Stats().Dropped.HandshakeFailed,
			"%s: failed handshakes at %s (%d abandoned)", step, n.id, failed)
		abandoned += failed
	}
	require.True(c.t, leader.n.IsLeader(), "%s: %s lost its lease", step, leader.id)
	require.Empty(c.t, c.moves(leader.id, term), "%s: the leadership moved", step)
	return abandoned
}

// refused reports whether a handshake failed in TLS (a certificate refused
// by either side, or any other TLS alert), as opposed to abandoned.
func refused(err error) bool {
	var te *quic.TransportError
	var ve *tls.CertificateVerificationError
	return errors.As(err, &te) && te.ErrorCode.IsCryptoError() || errors.As(err, &ve) ||
		strings.Contains(err.Error(), "tls:")
}

// failedHandshakes returns each node's count of failed handshakes.
func (c *rotCluster) failedHandshakes() map[string]uint64 {
	m := map[string]uint64{}
	for _, n := range c.nodes {
		m[n.id] = n.q.Stats().Dropped.HandshakeFailed
	}
	return m
}

// inUse waits until every node uses the files it holds now: certificate,
// key and CA file (it looks at them by itself, within tlsCheckEvery).
func (c *rotCluster) inUse(nodes ...*rotNode) {
	for _, n := range nodes {
		s := n.q.creds
		require.Eventually(c.t, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.inUse == stampFiles(s.files)
		}, 4*tlsCheckEvery, 10*time.Millisecond, "%s did not pick up its new files", n.id)
	}
}

// serialOf returns the serial of the certificate node n uses.
func serialOf(n *rotNode) string { return n.q.creds.cur.Load().Leaf.SerialNumber.String() }

func TestRotation_NodeCertificatesThenCA(t *testing.T) {
	leakCheck(t)
	ids := []string{"n1", "n2", "n3"}
	caA := t.TempDir()
	require.NoError(t, GenerateClusterCerts(caA, "rot", ids))
	c := startRotCluster(t, caA, ids)
	l := c.leader()
	term := l.n.Term()
	c.reconnect()
	// What happens while the nodes start one by one (a split vote, a knock
	// abandoned as a connection comes, a dial that times out on a loaded
	// machine) is the start's, not the rotation's.
	base := c.failedHandshakes()
	for _, n := range c.nodes {
		n.mu.Lock()
		n.errs = nil
		n.mu.Unlock()
	}
	c.check("start", l, term, base)
	steps := 0

	// step runs one rotation step on every node, in turn (a node at a time,
	// as an operator or a cert-manager renewal would), reconnects all
	// pairs after each node, and checks that each new connection presented
	// the certificate its dialer's files hold.
	step := func(name string, apply func(n *rotNode), forced bool) {
		t.Helper()
		for _, n := range c.nodes {
			apply(n)
			if forced {
				require.NoError(t, n.q.ReloadTLS(), "%s: %s", name, n.id)
			} else {
				c.inUse(n)
			}
			for pair, s := range c.reconnect() {
				id, _, _ := strings.Cut(pair, ">")
				dialer := c.nodes[slices.IndexFunc(c.nodes, func(x *rotNode) bool { return x.id == id })]
				require.Equal(t, serialOf(dialer), s, "%s: %s presented an old certificate", name, pair)
			}
			c.check(fmt.Sprintf("%s (%s done)", name, n.id), l, term, base)
			steps++
		}
		t.Logf("%s: done on every node; leader %s at term %d throughout", name, l.id, term)
	}

	// 1. New node certificates from the same CA, picked up by the nodes.
	reissueA := t.TempDir()
	copyCA(t, caA, reissueA)
	require.NoError(t, GenerateClusterCerts(reissueA, "rot", ids))
	step("node certificates reissued", func(n *rotNode) { c.install(n, reissueA) }, false)

	// 2. The new CA beside the old one, everywhere.
	caB := t.TempDir()
	require.NoError(t, GenerateClusterCerts(caB, "rot", ids))
	step("CA bundle old+new", func(n *rotNode) { c.install(n, "", caA, caB) }, false)

	// 3. Node certificates of the new CA: meanwhile old and new ones meet.
	step("node certificates from the new CA", func(n *rotNode) { c.install(n, caB) }, true)

	// 4. The old CA removed.
	step("old CA removed", func(n *rotNode) { c.install(n, "", caB) }, true)

	// 5. A corrupt certificate file: reported (forced and by the node
	// itself), the credentials in use stay, handshakes still work.
	victim := c.nodes[0]
	before := serialOf(victim)
	writeFile(t, victim.cfg.CertFile, []byte("-----BEGIN CERTIFICATE-----\ncut here"))
	err := victim.q.ReloadTLS()
	var ce *CertError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, victim.cfg.CertFile, ce.File)
	c.install(victim, caB) // the good file back, then broken again: the node reports it by itself
	require.NoError(t, victim.q.ReloadTLS())
	writeFile(t, victim.cfg.CertFile, []byte("garbage"))
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(victim.errors(), func(err error) bool { return errors.As(err, &ce) })
	}, 4*tlsCheckEvery, 10*time.Millisecond, "the corrupt file was not reported")
	require.Equal(t, victim.cfg.CertFile, ce.File)
	require.Equal(t, before, serialOf(victim), "a corrupt file changed the credentials")
	victim.mu.Lock()
	victim.errs = slices.DeleteFunc(victim.errs, func(err error) bool { return errors.As(err, &ce) })
	victim.mu.Unlock()
	c.reconnect()
	abandoned := c.check("corrupt certificate file", l, term, base)

	// 6. The control: a node still holding a certificate of the removed CA
	// is refused, and counted.
	// It trusts both CAs, so that the refusal is n3's, not its own.
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, bundle, append(readFile(t, filepath.Join(caA, "ca.pem")), readFile(t, filepath.Join(caB, "ca.pem"))...))
	stale, err := LoadTLS(filepath.Join(caA, "n1.pem"), filepath.Join(caA, "n1-key.pem"), bundle, "n1")
	require.NoError(t, err)
	target := c.nodes[2]
	conn, err := rogueDial(t, target.q.Addr().String(), stale.ClientConfig(target.id))
	if err == nil {
		// TLS 1.3: the client may finish before the server refuses it.
		<-conn.Context().Done()
	}
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(target.errors(), func(err error) bool {
			return errors.Is(err, ErrHandshakeFailed) && refused(err) && strings.Contains(err.Error(), "unknown authority")
		})
	}, 10*time.Second, 5*time.Millisecond, "a certificate of the removed CA was not refused: %v", target.errors())
	pairs := len(c.nodes) * (len(c.nodes) - 1) / 2
	t.Logf("%d node steps, %d reconnections of each of %d pairs (%d handshakes): no leader change, no handshake refused (%d abandoned knocks; %v failed while starting); the old CA's certificate refused",
		steps, steps+2, pairs, (steps+2)*pairs, abandoned, base)
}

// copyCA copies the CA of one certDir into another, so that
// GenerateClusterCerts reissues node certificates from it.
func copyCA(t *testing.T, from, to string) {
	for _, f := range []string{"ca.pem", "ca-key.pem"} {
		require.NoError(t, os.WriteFile(filepath.Join(to, f), readFile(t, filepath.Join(from, f)), 0o600))
	}
}
