package graft

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

// freeUDPAddr returns a loopback UDP address that was free a moment ago.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	a := c.LocalAddr().String()
	require.NoError(t, c.Close())
	return a
}

// configs returns the configurations of a cluster of ids on loopback, with
// development certificates, fast timings and the state in a test folder.
func configs(t *testing.T, ids ...string) map[string]Config {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, transport.GenerateCerts(dir, ids))
	addrs := map[string]string{}
	for _, id := range ids {
		addrs[id] = freeUDPAddr(t)
	}
	cfgs := map[string]Config{}
	for _, id := range ids {
		peers := map[string]string{}
		for p, a := range addrs {
			if p != id {
				peers[p] = a
			}
		}
		cfgs[id] = Config{
			Cluster: "t", ID: id, Listen: addrs[id], Peers: peers,
			StatePath: filepath.Join(dir, id+".state"),
			CertFile:  filepath.Join(dir, id+".pem"), KeyFile: filepath.Join(dir, id+"-key.pem"),
			CAFile:    filepath.Join(dir, "ca.pem"),
			Heartbeat: 20 * time.Millisecond, ElectionMin: 150 * time.Millisecond, ElectionMax: 250 * time.Millisecond,
		}
	}
	return cfgs
}

func start(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func waitLease(t *testing.T, nodes ...*Node) (*Node, Lease) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type won struct {
		n *Node
		l Lease
	}
	got := make(chan won, len(nodes))
	for _, n := range nodes {
		go func() {
			if l, err := n.WaitLease(ctx); err == nil {
				got <- won{n, l}
			}
		}()
	}
	select {
	case w := <-got:
		return w.n, w.l
	case <-ctx.Done():
		t.Fatal("no node got the lease within 10 s")
		return nil, Lease{}
	}
}

func TestStart_OneConfigElectsOneLeaseHolder(t *testing.T) {
	cfgs := configs(t, "a", "b", "c")
	var nodes []*Node
	for _, id := range []string{"a", "b", "c"} {
		nodes = append(nodes, start(t, cfgs[id]))
	}
	_, lease := waitLease(t, nodes...)
	require.Positive(t, lease.Term)
	require.LessOrEqual(t, lease.Remaining(), cfgs["a"].ElectionMin, "the lease is at most ElectionMin long")
	// One snapshot, retried until it holds (on a starved machine a lease
	// may lapse between two reads, and the cluster elect again): one node
	// holds the lease, the others hold none and follow it.
	require.Eventually(t, func() bool {
		var holder *Node
		for _, n := range nodes {
			if l, ok := n.Lease(); ok {
				if holder != nil || l.Term < lease.Term || n.State() != StateLeader {
					return false
				}
				holder = n
			}
		}
		if holder == nil || holder.Stats().Election.ElectionsWon == 0 {
			return false
		}
		for _, n := range nodes {
			if n != holder && (n.Leader() != holder.ID() || n.IsLeader()) {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "one lease holder that the others follow")
}

func TestStart_LeaseChangesCarryTheSameSequenceAsOnLease(t *testing.T) {
	cfgs := configs(t, "a", "b", "c")
	var mu sync.Mutex
	var viaCallback []LeaseChange
	cfg := cfgs["a"]
	cfg.OnLease = func(held bool, l Lease) {
		mu.Lock()
		viaCallback = append(viaCallback, LeaseChange{Held: held, Lease: l})
		mu.Unlock()
	}
	// a alone first: it can only lead once a peer is up, so the channel
	// is asked for before any event.
	a := start(t, cfg)
	changes := a.LeaseChanges()
	require.Equal(t, changes, a.LeaseChanges(), "one channel per node")
	b := start(t, cfgs["b"])
	var viaChannel []LeaseChange
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(viaChannel) < 2 { // acquired, then lost by a handover
		select {
		case c := <-changes:
			require.False(t, c.At.IsZero())
			require.False(t, c.At.After(time.Now()), "At %v: the event happened before it was read", c.At)
			viaChannel = append(viaChannel, c)
			if c.Held {
				require.NoError(t, a.StepDown())
			}
		case <-time.After(50 * time.Millisecond):
			if b.IsLeader() { // b won: hand over to a, the only other node
				_ = b.StepDown()
			}
		case <-ctx.Done():
			t.Fatalf("a never acquired then lost the lease: %+v", viaChannel)
		}
	}
	require.True(t, viaChannel[0].Held)
	require.False(t, viaChannel[1].Held)
	require.Equal(t, viaChannel[0].Lease.Term, viaChannel[1].Lease.Term, "the loss is of the term acquired")
	require.False(t, viaChannel[1].At.Before(viaChannel[0].At), "lost at %v, acquired at %v", viaChannel[1].At, viaChannel[0].At)
	require.NoError(t, a.Close())
	for c := range changes { // closed at Close; what is left is paired
		viaChannel = append(viaChannel, c)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range viaChannel { // the callback gets no At
		viaChannel[i].At = time.Time{}
	}
	require.Equal(t, viaCallback, viaChannel, "the callback and the channel see the same events")
	require.ErrorIs(t, a.Close(), election.ErrClosed)
	_, more := <-a.LeaseChanges()
	require.False(t, more, "asked after Close: a closed channel")
}

func TestStart_CloseIsNotBlockedByAnUnreadChannel(t *testing.T) {
	// A program asks for the channel and never reads it: once the buffer is
	// full, a's callbacks wait on it, and Close must still return.
	cfgs := configs(t, "a", "b")
	a, b := start(t, cfgs["a"]), start(t, cfgs["b"])
	changes := a.LeaseChanges()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Hand over back and forth until a's events fill the channel and more
	// wait behind it: a's callback goroutine is then blocked in a send.
	for len(changes) < cap(changes) || a.Stats().Election.CallbacksQueued == 0 {
		leader, _ := waitLease(t, a, b)
		if err := leader.StepDown(); err != nil {
			require.ErrorIs(t, err, election.ErrNotLeader) // lost it meanwhile
		}
		require.NoError(t, ctx.Err(), "the channel never filled")
	}
	done := make(chan error, 1)
	go func() { done <- a.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked behind an unread LeaseChanges channel")
	}
	n := 0
	for range changes {
		n++
	}
	require.Equal(t, changeBuffer, n, "what was buffered is still there to read")
}

func TestStart_WaitLeaseEndsWithItsContextOrClose(t *testing.T) {
	cfgs := configs(t, "a", "b")
	a := start(t, cfgs["a"]) // b never starts: no lease
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := a.WaitLease(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	errc := make(chan error, 1)
	go func() {
		_, err := a.WaitLease(context.Background())
		errc <- err
	}()
	require.NoError(t, a.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, election.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake WaitLease")
	}
}

func TestStart_LoggerGetsTheElectionsLines(t *testing.T) {
	cfgs := configs(t, "a")
	cfg := cfgs["a"]
	cfg.Peers = nil
	var mu sync.Mutex
	var buf bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := start(t, cfg)
	_, err := a.WaitLease(context.Background())
	require.NoError(t, err)
	// The line comes through the callback queue, maybe after WaitLease
	// returned; Close would drop it if still queued.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Contains(buf.Bytes(), []byte("became leader"))
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, a.Close())
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, buf.String(), "node=a")
	require.NotContains(t, buf.String(), "level=DEBUG", "lines below the logger's level are not sent")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestStart_BadConfigIsAClearErrorAndLeavesNothingRunning(t *testing.T) {
	good := configs(t, "a", "b")["a"]
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"own id among peers", func(c *Config) { c.Peers = map[string]string{"a": "127.0.0.1:1"} }, `own id "a"`},
		{"empty peer address", func(c *Config) { c.Peers = map[string]string{"b": ""} }, `Peers["b"] is empty`},
		{"no cluster", func(c *Config) { c.Cluster = "" }, "Cluster"},
		{"no state file", func(c *Config) { c.StatePath = "" }, "StatePath"},
		{"heartbeat too long", func(c *Config) { c.Heartbeat = time.Second }, "Heartbeat"},
		{"no such certificate", func(c *Config) { c.CertFile = "/nonexistent.pem" }, "/nonexistent.pem"},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, "127.0.0.1"},
		{"a witness without peers", func(c *Config) { c.Peers, c.Witness = nil, true }, "a cluster needs a node that can lead"},
		{"succession delay too long", func(c *Config) {
			c.Peers["c"] = "127.0.0.1:1" // two peers: ElectionMin + 1 x delay must be below ElectionMax
			c.SuccessionDelay = c.ElectionMax - c.ElectionMin
		}, "SuccessionDelay"},
		{"succession delay negative", func(c *Config) { c.SuccessionDelay = -time.Millisecond }, "SuccessionDelay"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			cfg.Peers = map[string]string{"b": good.Peers["b"]}
			tc.mod(&cfg)
			n, err := Start(cfg)
			require.Error(t, err)
			require.Nil(t, n)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// Nothing was left holding the port or the state file.
	n := start(t, good)
	require.NoError(t, n.Close())
}

func TestStart_ErrorsGoToTheLoggerWithoutOnError(t *testing.T) {
	cfgs := configs(t, "a", "b")
	cfg := cfgs["a"]
	// b's certificate comes from another CA: a refuses it and reports it.
	other := t.TempDir()
	require.NoError(t, transport.GenerateCerts(other, []string{"b"}))
	bcfg := cfgs["b"]
	bcfg.CertFile, bcfg.KeyFile, bcfg.CAFile = filepath.Join(other, "b.pem"), filepath.Join(other, "b-key.pem"), filepath.Join(other, "ca.pem")
	var mu sync.Mutex
	var buf bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	start(t, cfg)
	start(t, bcfg)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Contains(buf.Bytes(), []byte("level=WARN")) && bytes.Contains(buf.Bytes(), []byte("node=a"))
	}, 10*time.Second, 10*time.Millisecond, "a's report of b's certificate reached the logger")
}
