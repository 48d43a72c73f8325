// Package relay forwards the traffic of one link between two nodes in user
// space, because this machine has no tc netem (shared/MACHINE-FACTS.md):
// it counts the bytes, can delay every packet by a random time (delay and
// jitter, with reordering), and can drop everything (a partition).
//
// A UDP link carries one node's QUIC connection to one peer: the node's
// peer address points at the link's listening socket, the link forwards to
// the peer from a socket of its own and sends the answers back. A TCP relay
// sits in front of one listener and forwards every connection made to it.
package relay

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Delay returns the delay of one packet; nil means none.
type Delay func() time.Duration

// Uniform returns a Delay drawn uniformly from [mean-jitter, mean+jitter].
func Uniform(mean, jitter time.Duration) Delay {
	return func() time.Duration {
		return mean - jitter + time.Duration(rand.Int64N(int64(2*jitter)+1))
	}
}

// UDP is one relayed UDP link.
type UDP struct {
	ln, up  *net.UDPConn
	target  *net.UDPAddr
	client  atomic.Pointer[net.UDPAddr]
	delay   Delay
	blocked atomic.Bool

	// Bytes counts the UDP payload bytes forwarded, both directions.
	Bytes atomic.Uint64
	// Dropped counts the datagrams dropped while blocked.
	Dropped atomic.Uint64

	wg sync.WaitGroup
}

// NewUDP listens on a free loopback port and forwards to target.
func NewUDP(target string, delay Delay) (*UDP, error) {
	t, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		ln.Close()
		return nil, err
	}
	u := &UDP{ln: ln, up: up, target: t, delay: delay}
	u.wg.Add(2)
	go u.pump(ln, true)
	go u.pump(up, false)
	return u, nil
}

// Addr is the address the node must use for its peer.
func (u *UDP) Addr() string { return u.ln.LocalAddr().String() }

// Block drops every datagram, both ways, until Block(false).
func (u *UDP) Block(b bool) { u.blocked.Store(b) }

func (u *UDP) pump(from *net.UDPConn, forward bool) {
	defer u.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := from.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if forward {
			u.client.Store(addr)
		}
		if u.blocked.Load() {
			u.Dropped.Add(1)
			continue
		}
		u.Bytes.Add(uint64(n))
		out, to := u.up, u.target
		if !forward {
			out, to = u.ln, u.client.Load()
			if to == nil {
				continue
			}
		}
		if u.delay == nil {
			out.WriteToUDP(buf[:n], to)
			continue
		}
		p := append([]byte(nil), buf[:n]...)
		time.AfterFunc(u.delay(), func() { out.WriteToUDP(p, to) })
	}
}

// Close stops the link.
func (u *UDP) Close() {
	u.ln.Close()
	u.up.Close()
	u.wg.Wait()
}

// TCP relays every connection made to its listener to target.
type TCP struct {
	ln     net.Listener
	target string
	// Bytes counts the bytes forwarded, both directions.
	Bytes atomic.Uint64

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewTCP listens on a free loopback port and forwards to target.
func NewTCP(target string) (*TCP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &TCP{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// Addr is the address clients must dial.
func (t *TCP) Addr() string { return t.ln.Addr().String() }

func (t *TCP) track(c net.Conn, add bool) {
	t.mu.Lock()
	if add {
		t.conns[c] = true
	} else {
		delete(t.conns, c)
	}
	t.mu.Unlock()
}

func (t *TCP) accept() {
	defer t.wg.Done()
	for {
		in, err := t.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", t.target)
		if err != nil {
			in.Close()
			continue
		}
		t.track(in, true)
		t.track(out, true)
		cp := func(dst, src net.Conn) {
			io.Copy(countWriter{dst, &t.Bytes}, src)
			dst.Close()
			src.Close()
			t.track(dst, false)
			t.track(src, false)
		}
		go cp(out, in)
		go cp(in, out)
	}
}

type countWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

// Close stops accepting and closes every relayed connection.
func (t *TCP) Close() {
	t.ln.Close()
	t.wg.Wait()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
}
