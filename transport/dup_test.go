package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"
)

// impostor is a second process holding a node's certificate: it dials
// from one UDP socket of its own, again and again, until stop.
type impostor struct {
	addr  string
	dials atomic.Int64 // handshakes completed
	stop  chan struct{}
	done  chan struct{}
}

// startImpostor dials target every pause with tc, holds each connection
// for hold (0: closes it at once with code), until stopped.
func startImpostor(t *testing.T, target net.Addr, tc *tls.Config, hold, pause time.Duration, code quic.ApplicationErrorCode) *impostor {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	tr := &quic.Transport{Conn: udp}
	im := &impostor{addr: udp.LocalAddr().String(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(im.done)
		defer udp.Close()
		defer tr.Close()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			c, err := tr.Dial(ctx, target, tc, &quic.Config{EnableDatagrams: true, HandshakeIdleTimeout: 300 * time.Millisecond})
			cancel()
			if err == nil {
				im.dials.Add(1)
				select {
				case <-c.Context().Done():
				case <-time.After(hold):
				case <-im.stop:
				}
				c.CloseWithError(code, "")
			}
			select {
			case <-im.stop:
				return
			case <-time.After(pause):
			}
		}
	}()
	t.Cleanup(im.halt)
	return im
}

func (im *impostor) halt() {
	select {
	case <-im.stop:
	default:
		close(im.stop)
	}
	<-im.done
}

// duplicateReports returns the ReasonDuplicatePeer reports n received.
func duplicateReports(n *node) []error {
	var out []error
	for _, e := range n.in.errors() {
		if errors.Is(e, ErrDuplicatePeer) {
			out = append(out, e)
		}
	}
	return out
}

// pingUntil sends messages of kind from src to dst every 5 ms until done
// reports true (checked before each), then waits up to 2 s for the last
// one, and returns how many were sent and how many arrived.
func pingUntil(src, dst *node, kind election.MsgKind, term uint64, done func() bool) (sent, arrived int) {
	for ; !done(); sent++ {
		src.Send(election.Message{Kind: kind, To: dst.ID(), Term: term, Stamp: int64(sent + 1)})
		time.Sleep(5 * time.Millisecond) // the message rhythm of the test
	}
	ours := func(m election.Message) bool { return m.From == src.ID() && m.Kind == kind && m.Term == term }
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if dst.in.has(func(m election.Message) bool { return ours(m) && m.Stamp == int64(sent) }) {
			break
		}
	}
	for _, m := range dst.in.messages() {
		if ours(m) {
			arrived++
		}
	}
	return sent, arrived
}

// after returns a condition that holds once d has passed.
func after(d time.Duration) func() bool {
	end := time.Now().Add(d)
	return func() bool { return !time.Now().Before(end) }
}

// TestDuplicate_HolderCannotTakeTheConnection: a second process with a's
// certificate dials b (which a dials) every 5 ms for a second, holding
// each connection 50 ms. b keeps a's connection: a never reconnects, b's
// messages reach a, and b reports the duplicate once, with both addresses.
func TestDuplicate_HolderCannotTakeTheConnection(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, nil)
	a, b := ns["a"], ns["b"]
	stillWorks(t, b, a, 1)
	stillWorks(t, a, b, 1)
	creds, err := LoadTLS(a.cfg.CertFile, a.cfg.KeyFile, a.cfg.CAFile, "a")
	require.NoError(t, err)
	im := startImpostor(t, b.Addr(), creds.ClientConfig("b"), 50*time.Millisecond, 5*time.Millisecond, 0)
	sent, arrived := pingUntil(b, a, election.MsgHeartbeat, 2, after(time.Second))
	im.halt()
	t.Logf("impostor handshakes: %d; b -> a: %d of %d arrived; a's reconnects: %d; b's duplicate drops: %d",
		im.dials.Load(), arrived, sent, a.Stats().Reconnects, b.Stats().Dropped.DuplicatePeer)
	require.Zero(t, a.Stats().Reconnects, "the impostor took a's connection")
	require.GreaterOrEqual(t, arrived, sent*9/10)
	reps := duplicateReports(b)
	require.Len(t, reps, 1, "%v", reps)
	require.Contains(t, reps[0].Error(), im.addr)
	require.Contains(t, reps[0].Error(), a.Addr().String())
	require.Positive(t, b.Stats().Dropped.DuplicatePeer)
	b.mu.Lock()
	require.Equal(t, a.Addr().String(), b.inbound["a"].RemoteAddr().String())
	b.mu.Unlock()
}

// TestDuplicate_KnocksFromElsewhereHonouredOnce: a second process with b's
// certificate knocks at a (which dials b) every 20 ms, each knock held open
// 100 ms as a real one, for a second and until a reported it. a redials b
// once, not at every knock, and reports the duplicate once. What a sends
// meanwhile queues during that one redial and arrives (a kind that no
// newer message replaces, a queue long enough for a slow redial under
// load): the impostor never receives b's messages.
func TestDuplicate_KnocksFromElsewhereHonouredOnce(t *testing.T) {
	leakCheck(t)
	var logs lines
	t0 := time.Now()
	ns := cluster(t, []string{"a", "b"}, func(c *Config) {
		c.QueueLen = 4096
		c.Logf = func(f string, args ...any) {
			logs.logf("%v "+f, append([]any{time.Since(t0).Milliseconds()}, args...)...)
		}
	})
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", strings.Join(logs.all(), "\n"))
		}
	}()
	a, b := ns["a"], ns["b"]
	stillWorks(t, a, b, 1)
	stillWorks(t, b, a, 1)
	time.Sleep(2 * knockGrace) // a's connection is no young one: a knock would make a redial
	creds, err := LoadTLS(b.cfg.CertFile, b.cfg.KeyFile, b.cfg.CAFile, "b")
	require.NoError(t, err)
	im := startImpostor(t, a.Addr(), creds.ClientConfig("a"), 100*time.Millisecond, 20*time.Millisecond, codeKnockDone)
	second, deadline := after(time.Second), after(20*time.Second)
	sent, arrived := pingUntil(a, b, election.MsgHeartbeatResp, 2, func() bool {
		return deadline() || second() && len(duplicateReports(a)) > 0
	})
	im.halt()
	t.Logf("impostor %s knocks: %d; a %s, b %s; a -> b: %d of %d arrived; a's reconnects: %d; a's duplicate drops: %d",
		im.addr, im.dials.Load(), a.Addr(), b.Addr(), arrived, sent, a.Stats().Reconnects, a.Stats().Dropped.DuplicatePeer)
	require.LessOrEqual(t, a.Stats().Reconnects, uint64(1))
	require.GreaterOrEqual(t, arrived, sent*9/10)
	reps := duplicateReports(a)
	require.Len(t, reps, 1, "%v", reps)
	require.True(t, strings.Contains(reps[0].Error(), im.addr), "%v", reps[0])
}
