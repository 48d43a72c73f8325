package transport

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"
)

// reportLatency reports the median and 99th percentile of rtts in µs.
func reportLatency(b *testing.B, rtts []time.Duration) {
	if len(rtts) == 0 {
		return
	}
	slices.Sort(rtts)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(rtts[len(rtts)/2]), "median-µs")
	b.ReportMetric(us(rtts[len(rtts)*99/100]), "p99-µs")
}

// BenchmarkHeartbeatRoundTrip measures heartbeat -> response over loopback
// through two full QUIC transports (encode, TLS, datagram, decode, deliver).
func BenchmarkHeartbeatRoundTrip(b *testing.B) {
	got := make(chan int64, 16)
	dir := certDir(b, "leader", "follower")
	la, fa := freeUDPAddr(b), freeUDPAddr(b)
	lcfg, fcfg := nodeConfig(dir, "leader"), nodeConfig(dir, "follower")
	lcfg.Listen, lcfg.Peers["follower"] = la, fa
	fcfg.Listen, fcfg.Peers["leader"] = fa, la
	lead, err := New(lcfg)
	require.NoError(b, err)
	defer lead.Close()
	fol, err := New(fcfg)
	require.NoError(b, err)
	defer fol.Close()
	// The follower echoes every heartbeat; the leader hands the stamp over.
	require.NoError(b, fol.Start(func(m election.Message) {
		fol.Send(election.Message{Kind: election.MsgHeartbeatResp, To: m.From, Term: m.Term, Stamp: m.Stamp, Granted: true})
	}, nil))
	require.NoError(b, lead.Start(func(m election.Message) {
		select {
		case got <- m.Stamp:
		default:
		}
	}, nil))
	// Wait until the connections are up (stamp 0 marks the warm-up).
	require.Eventually(b, func() bool {
		lead.Send(election.Message{Kind: election.MsgHeartbeat, To: "follower", Term: 1})
		select {
		case <-got:
			return true
		case <-time.After(10 * time.Millisecond):
			return false
		}
	}, 10*time.Second, time.Millisecond)

	rtts := make([]time.Duration, 0, b.N)
	lost := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stamp := int64(i + 1)
		t0 := time.Now()
		lead.Send(election.Message{Kind: election.MsgHeartbeat, To: "follower", Term: 1, Stamp: stamp})
	wait:
		for {
			select {
			case s := <-got:
				if s == stamp {
					rtts = append(rtts, time.Since(t0))
					break wait
				}
			case <-time.After(200 * time.Millisecond):
				lost++
				break wait
			}
		}
	}
	b.StopTimer()
	reportLatency(b, rtts)
	b.ReportMetric(float64(lost), "lost")
}

// lossyConn drops a fraction of outgoing packets, to show what loss does to
// each framing. It hides the OOB methods, so quic-go treats it as a plain
// net.PacketConn.
type lossyConn struct {
	net.PacketConn
	mu   sync.Mutex
	rng  *rand.Rand
	loss float64
}

func (c *lossyConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	drop := c.rng.Float64() < c.loss
	c.mu.Unlock()
	if drop {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// BenchmarkFraming compares the two ways to carry a heartbeat over one QUIC
// connection: a DATAGRAM frame each, or length-prefixed frames on one
// long-lived stream, on clean loopback and with 5% packet loss in both
// directions. A datagram round trip is counted lost after 100ms (the
// election would send a fresh heartbeat); the stream never loses one but
// delivers it late, behind retransmissions (head-of-line blocking).
// Figures are in docs/transport.md.
func BenchmarkFraming(b *testing.B) {
	for _, loss := range []float64{0, 0.05} {
		for _, mode := range []string{"datagram", "stream"} {
			b.Run(mode+"/loss="+map[float64]string{0: "0%", 0.05: "5%"}[loss], func(b *testing.B) {
				benchFraming(b, mode, loss)
			})
		}
	}
}

func benchFraming(b *testing.B, mode string, loss float64) {
	dir := certDir(b, "a", "b")
	ca := filepath.Join(dir, "ca.pem")
	ac, err := LoadTLS(filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem"), ca, "a")
	require.NoError(b, err)
	bc, err := LoadTLS(filepath.Join(dir, "b.pem"), filepath.Join(dir, "b-key.pem"), ca, "b")
	require.NoError(b, err)
	mk := func(seed uint64) (*quic.Transport, net.PacketConn) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(b, err)
		return &quic.Transport{Conn: &lossyConn{PacketConn: pc, rng: rand.New(rand.NewPCG(seed, 7)), loss: loss}}, pc
	}
	qc := &quic.Config{EnableDatagrams: true, MaxIdleTimeout: 10 * time.Second, KeepAlivePeriod: time.Second}
	str, spc := mk(1)
	defer spc.Close()
	defer str.Close()
	ln, err := str.Listen(bc.ServerConfig(), qc)
	require.NoError(b, err)
	ctr, cpc := mk(2)
	defer cpc.Close()
	defer ctr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { // echo server
		sc, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer sc.CloseWithError(0, "")
		if mode == "datagram" {
			for {
				m, err := sc.ReceiveDatagram(ctx)
				if err != nil {
					return
				}
				_ = sc.SendDatagram(m)
			}
		}
		s, err := sc.AcceptStream(ctx)
		if err != nil {
			return
		}
		_, _ = io.Copy(s, s) // frames echo unchanged
	})
	conn, err := ctr.Dial(ctx, spc.LocalAddr(), ac.ClientConfig("b"), qc)
	require.NoError(b, err)
	defer conn.CloseWithError(0, "")

	frame := func(i int) []byte {
		m, _ := Encode(nil, "c", election.Message{Kind: election.MsgHeartbeat, From: "a", To: "b", Term: 1, Stamp: int64(i)})
		return m
	}
	rtts := make([]time.Duration, 0, b.N)
	lost := 0
	b.ResetTimer()
	if mode == "datagram" {
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			require.NoError(b, conn.SendDatagram(frame(i+1)))
			for {
				rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
				m, err := conn.ReceiveDatagram(rctx)
				rcancel()
				if err != nil {
					lost++
					break
				}
				if got, _ := Decode(m, "c", 0); got.Stamp == int64(i+1) {
					rtts = append(rtts, time.Since(t0))
					break
				}
			}
		}
	} else {
		s, err := conn.OpenStream()
		require.NoError(b, err)
		buf := make([]byte, 4096)
		for i := 0; i < b.N; i++ {
			f := frame(i + 1)
			out := binary.BigEndian.AppendUint16(nil, uint16(len(f)))
			t0 := time.Now()
			_, err := s.Write(append(out, f...))
			require.NoError(b, err)
			_, err = io.ReadFull(s, buf[:2])
			require.NoError(b, err)
			n := int(binary.BigEndian.Uint16(buf))
			_, err = io.ReadFull(s, buf[:n])
			require.NoError(b, err)
			rtts = append(rtts, time.Since(t0))
		}
	}
	b.StopTimer()
	reportLatency(b, rtts)
	b.ReportMetric(100*float64(lost)/float64(b.N), "lost-%")
	cancel()
}
