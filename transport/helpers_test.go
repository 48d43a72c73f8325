package transport

import (
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// certDir generates certificates for ids once per test.
func certDir(t testing.TB, ids ...string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, GenerateCerts(dir, ids))
	return dir
}

// nodeConfig returns a Config for id with certificates from dir, listening
// on a free loopback port, with no peers yet.
func nodeConfig(dir, id string) Config {
	return Config{
		Cluster:  "test",
		ID:       id,
		Listen:   "127.0.0.1:0",
		Peers:    map[string]string{},
		CertFile: filepath.Join(dir, id+".pem"),
		KeyFile:  filepath.Join(dir, id+"-key.pem"),
		CAFile:   filepath.Join(dir, "ca.pem"),
	}
}

// inbox collects delivered messages and reported errors.
type inbox struct {
	mu   sync.Mutex
	msgs []election.Message
	errs []error
}

func (b *inbox) deliver(m election.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
}

func (b *inbox) report(err error) {
	b.mu.Lock()
	b.errs = append(b.errs, err)
	b.mu.Unlock()
}

func (b *inbox) messages() []election.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]election.Message(nil), b.msgs...)
}

func (b *inbox) errors() []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]error(nil), b.errs...)
}

// has reports whether a message matching f arrived.
func (b *inbox) has(f func(election.Message) bool) bool {
	for _, m := range b.messages() {
		if f(m) {
			return true
		}
	}
	return false
}

// node is a started transport with its inbox.
type node struct {
	*QUIC
	in *inbox
}

// cluster starts len(ids) transports that know each other, all with certs
// from one CA. mod may adjust each config before New. Transports are
// closed at test end.
func cluster(t testing.TB, ids []string, mod func(*Config)) map[string]*node {
	t.Helper()
	nodes := map[string]*node{}
	for id, cfg := range meshConfigs(t, certDir(t, ids...), ids) {
		if mod != nil {
			mod(&cfg)
		}
		q, err := New(cfg)
		require.NoError(t, err)
		n := &node{QUIC: q, in: &inbox{}}
		require.NoError(t, q.Start(n.in.deliver, n.in.report))
		t.Cleanup(func() { q.Close() })
		nodes[id] = n
	}
	return nodes
}

// meshConfigs returns a Config per id, certificates from dir, each node
// listening on a loopback port that was free a moment ago and knowing every
// other node's port. New binds at once, so the ports are reserved first.
func meshConfigs(t testing.TB, dir string, ids []string) map[string]Config {
	t.Helper()
	addrs := map[string]string{}
	for _, id := range ids {
		addrs[id] = freeUDPAddr(t)
	}
	cfgs := map[string]Config{}
	for _, id := range ids {
		cfg := nodeConfig(dir, id)
		cfg.Listen = addrs[id]
		for _, p := range ids {
			if p != id {
				cfg.Peers[p] = addrs[p]
			}
		}
		cfgs[id] = cfg
	}
	return cfgs
}

// freeUDPAddr returns a loopback UDP address that was free a moment ago.
func freeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	a := c.LocalAddr().String()
	require.NoError(t, c.Close())
	return a
}

// eventually waits for cond with a deadline, polling often.
func eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, fmt.Sprintf(msg, args...))
}

// sendUntil resends m until it arrives at dst (the first messages after a
// start may be sent before the connection is up, and datagrams may be lost).
func sendUntil(t testing.TB, src *node, dst *node, m election.Message) {
	t.Helper()
	m.To = dst.ID()
	eventually(t, func() bool {
		src.Send(m)
		time.Sleep(2 * time.Millisecond) // pacing of the retry, not synchronisation
		return dst.in.has(func(got election.Message) bool {
			return got.Kind == m.Kind && got.Term == m.Term && got.From == src.ID()
		})
	}, "%s -> %s: %v term %d never arrived", src.ID(), dst.ID(), m.Kind, m.Term)
}

// leakCheck verifies, after every other cleanup of t (cleanups run last
// registered first), that no goroutine is left behind.
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}
