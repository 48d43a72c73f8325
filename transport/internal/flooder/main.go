// Command flooder sends what a stranger with no certificate can send at a
// graft node's UDP port, as fast as it can (or at -rate), for the flood
// tests of package transport (issue 18). Modes:
//
//	garbage  QUIC Initial packets, each for a new connection (a fresh
//	         destination connection id), whose payload never decrypts
//	hello    Initial packets carrying a real TLS ClientHello, each for a new
//	         connection: the server answers each with its handshake flight
//	chain    -dialers QUIC clients in a loop, each handshake presenting a
//	         certificate followed by 20 junk P-521 CA certificates that copy
//	         the subject and key id of the CA in -ca (junkchain)
//
// Packets go out from -sockets UDP sockets (source ports) in turn. At the
// end it prints one line:
//
//	FLOOD mode=<mode> sent=<packets or handshakes> secs=<s> rate=<per s>
//
// Run:
//
//	go run ./transport/internal/flooder -target 127.0.0.1:7401 -mode hello -duration 5s
package main

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graftlib/graft/transport/internal/junkchain"
	"github.com/graftlib/graft/transport/internal/quicpkt"
	"github.com/quic-go/quic-go"
)

func main() {
	var (
		target   = flag.String("target", "", "UDP host:port of the node")
		mode     = flag.String("mode", "garbage", "garbage, hello or chain")
		duration = flag.Duration("duration", 5*time.Second, "how long to flood")
		rate     = flag.Int("rate", 0, "packets (or handshakes) per second in all; 0: as fast as possible")
		sockets  = flag.Int("sockets", 16, "UDP sockets (source ports) to send from (garbage, hello)")
		senders  = flag.Int("senders", 2, "sending goroutines (garbage, hello)")
		dialers  = flag.Int("dialers", 4, "concurrent handshakes (chain)")
		caFile   = flag.String("ca", "", "the cluster CA certificate, whose subject the junk copies (chain)")
	)
	flag.Parse()
	addr, err := net.ResolveUDPAddr("udp", *target)
	if err != nil || *target == "" {
		fail(fmt.Errorf("-target %q: %v", *target, err))
	}
	var sent atomic.Int64
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	switch *mode {
	case "garbage", "hello":
		err = packets(ctx, addr, *mode, *sockets, *senders, *rate, &sent)
	case "chain":
		err = chains(ctx, addr, *caFile, *dialers, *rate, &sent)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fail(err)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("FLOOD mode=%s sent=%d secs=%.2f rate=%.0f\n", *mode, sent.Load(), secs, float64(sent.Load())/secs)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "flooder:", err)
	os.Exit(1)
}

// pacer spaces events to a rate shared by n goroutines; zero rate: none.
func pacer(rate, n int) func() {
	if rate <= 0 {
		return func() {}
	}
	every := time.Duration(int64(time.Second) * int64(n) / int64(rate))
	next := time.Now()
	return func() {
		next = next.Add(every)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
}

// packets sends Initial packets of mode from the sockets, senders
// goroutines sharing them, until ctx ends.
func packets(ctx context.Context, addr *net.UDPAddr, mode string, sockets, senders, rate int, sent *atomic.Int64) error {
	conns := make([]*net.UDPConn, sockets)
	hellos := make([][]byte, sockets)
	scids := make([][]byte, sockets)
	for i := range conns {
		c, err := net.DialUDP("udp", nil, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		conns[i] = c
		scids[i] = make([]byte, 8)
		rand.Read(scids[i])
		if mode == "hello" {
			h, err := quicpkt.ClientHello(&tls.Config{ServerName: "node", NextProtos: []string{"graft/1"}}, scids[i])
			if err != nil {
				return err
			}
			hellos[i] = quicpkt.CryptoFrame(nil, 0, h)
		}
	}
	random := make([]byte, quicpkt.MinSize)
	rand.Read(random)
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			pace := pacer(rate, senders)
			dcid := make([]byte, 8)
			binary.BigEndian.PutUint32(dcid, uint32(w))
			for n := uint32(0); ctx.Err() == nil; n++ {
				i := int(n) % sockets
				binary.BigEndian.PutUint32(dcid[4:], n)
				var pkt []byte
				if mode == "hello" {
					var err error
					if pkt, err = quicpkt.Initial(dcid, scids[i], 0, hellos[i]); err != nil {
						panic(err)
					}
				} else {
					pkt = quicpkt.Garbage(dcid, scids[i], random)
				}
				pace()
				if _, err := conns[i].Write(pkt); err == nil {
					sent.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// chains runs dialers QUIC clients that handshake with a junk chain in a
// loop until ctx ends, and counts the handshakes begun.
func chains(ctx context.Context, addr *net.UDPAddr, caFile string, dialers, rate int, sent *atomic.Int64) error {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return errors.New("-ca: no PEM certificate")
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	junk, err := junkchain.Make(ca, "mallory", 20, elliptic.P521())
	if err != nil {
		return err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{junk}, InsecureSkipVerify: true,
		NextProtos: []string{"graft/1"}, ServerName: "node"}
	qc := &quic.Config{HandshakeIdleTimeout: time.Second, EnableDatagrams: true}
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			pace := pacer(rate, dialers)
			for ctx.Err() == nil {
				pace()
				sent.Add(1)
				dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if c, err := quic.DialAddr(dctx, addr.String(), tc, qc); err == nil {
					c.CloseWithError(0, "")
				}
				cancel()
			}
		})
	}
	wg.Wait()
	return nil
}
