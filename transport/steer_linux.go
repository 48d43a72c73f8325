//go:build linux

package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Peers' packets apart from strangers' (issue 18; docs/transport.md,
// "Floods"). A stranger flooding the listening port at full speed fills
// its receive buffer faster than a node on a shared 2-core machine can
// empty it, and the kernel then drops the peers' packets with the flood's:
// heartbeat answers were lost and a leader moved. So the port is two UDP
// sockets in one SO_REUSEPORT group, and a classic BPF program attached to
// the group (steerProgram) puts every datagram from a peer's address into
// the peers' socket, every other into the strangers' socket. Peers send
// from the address they listen on (conn.go), which this node knows
// (Config.Peers, resolve.go); a stranger on the same host shares their IP
// but cannot send from their port without spoofing. A flood can then fill
// only the strangers' buffer.
//
// quic-go reads the pair as one socket (steeredConn): a goroutine per
// socket reads batches (recvmmsg), and quic-go's reading goroutine takes
// the peers' first. Each goroutine waits while quic-go has not taken its
// last batches, so under a flood the strangers' buffer overflows in the
// kernel, which costs this process nothing.

// steerBatch is how many datagrams a socket's goroutine reads at once
// (quic-go v0.65 reads 8).
const steerBatch = 8

// steerPacketSize is the largest datagram read whole: quic-go's
// protocol.MaxPacketBufferSize is 1452; a longer one is cut short as it
// would be on quic-go's own socket.
const steerPacketSize = 1500

// steerQueue is how many batches a socket's goroutine may have read ahead
// of quic-go.
const steerQueue = 4

// strangerBudget is how many strangers' datagrams a second the node reads
// at most (in bursts of strangerBurst); the kernel drops the rest when the
// strangers' buffer is full. quic-go spent about 4 µs of CPU on each
// garbage Initial, 96% of a core under the flood test's 250,000 a second,
// which the peers' datagrams waited behind for a CPU; the admission
// control lets strangers begin 64 handshakes a second (admit.go), a few
// datagrams each.
const (
	strangerBudget = 20000
	strangerBurst  = 2000
)

// SKF_NET_OFF: a classic BPF load at this offset plus k reads byte k of
// the network (IP) header.
const skfNetOff = -0x100000

// batch is what one read of a socket returned.
type batch struct {
	msgs []ipv4.Message
	n    int // read
	pos  int // handed to quic-go
}

func newBatch() *batch {
	b := &batch{msgs: make([]ipv4.Message, steerBatch)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{make([]byte, steerPacketSize)}
		b.msgs[i].OOB = make([]byte, 128) // quic-go's oobBufferSize
	}
	return b
}

// steeredConn is the listening port as two sockets, strangers' and
// peers', read by quic-go as one. It implements quic.OOBCapablePacketConn
// and ReadBatch, so quic-go reads it in batches with the control messages
// it needs (packet info on a wildcard address, ECN), and writes through
// the strangers' socket (the same address).
type steeredConn struct {
	pub, peer *net.UDPConn // index 0 and 1 of the reuseport group: strangers', peers'

	pool       sync.Pool // *batch
	peerCh     chan *batch
	strangerCh chan *batch
	closed     chan struct{}
	closeOnce  sync.Once
	readers    sync.WaitGroup

	dlMu     sync.Mutex
	deadline time.Time
	kick     chan struct{} // capacity 1: the deadline changed

	// The batches being handed to quic-go; only its reading goroutine
	// (ReadBatch) uses them.
	curPeer, curStranger *batch

	progMu sync.Mutex // one program attached at a time, the newest
}

// listenSteered binds addr as the two sockets of a steered port, with a
// program that steers nothing to the peers' socket until setPeers. A port
// in use fails as a plain bind would: the port is first bound without
// SO_REUSEPORT, so that a second node given the same address fails in New
// rather than share the port (another process of the same user binding it
// with SO_REUSEPORT in between the two binds would join the group; it gets
// no datagram, the program steers to the first two sockets only).
func listenSteered(addr *net.UDPAddr) (*steeredConn, error) {
	s, err := bindSteered(addr)
	if err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

// bindSteered binds the sockets of listenSteered and attaches the program.
func bindSteered(addr *net.UDPAddr) (*steeredConn, error) {
	probe, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, err
	}
	at := probe.LocalAddr().(*net.UDPAddr)
	probe.Close()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	bind := func() (*net.UDPConn, error) {
		pc, err := lc.ListenPacket(context.Background(), "udp", at.String())
		if err != nil {
			return nil, err
		}
		return pc.(*net.UDPConn), nil
	}
	pub, err := bind()
	if err != nil {
		return nil, err
	}
	peer, err := bind()
	if err != nil {
		pub.Close()
		return nil, err
	}
	s := &steeredConn{pub: pub, peer: peer,
		peerCh: make(chan *batch, steerQueue), strangerCh: make(chan *batch, steerQueue),
		closed: make(chan struct{}), kick: make(chan struct{}, 1)}
	s.pool.New = func() any { return newBatch() }
	if err := s.setPeers(nil); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// start starts the sockets' goroutines (a test of the program alone reads
// the sockets itself).
func (s *steeredConn) start() {
	s.readers.Add(2)
	go s.read(s.peer, s.peerCh, false)
	go s.read(s.pub, s.strangerCh, true)
}

// setPeers steers the datagrams from addrs (IPv4 unmapped) to the peers'
// socket from now on, and every other datagram to the strangers'.
func (s *steeredConn) setPeers(addrs []netip.AddrPort) error {
	prog := steerProgram(addrs)
	s.progMu.Lock()
	defer s.progMu.Unlock()
	raw, err := s.pub.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("attaching the reuseport program: %w", serr)
	}
	return nil
}

// steerProgram returns the classic BPF program that picks a datagram's
// socket in the reuseport group: 1 (the peers') when its source address is
// one of addrs, else 0. The kernel runs it with the datagram's UDP payload
// at offset 0, so it reads the addresses through SKF_NET_OFF: IPv4 without
// options, IPv6 with UDP as its next header (a datagram with IP options or
// IPv6 extension headers goes to the strangers' socket; peers send none).
func steerProgram(addrs []netip.AddrPort) []unix.SockFilter {
	ins := func(code uint16, jt, jf uint8, k uint32) unix.SockFilter {
		return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
	}
	const (
		ldB   = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		ldH   = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		ldW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ja    = unix.BPF_JMP | unix.BPF_JA
		and   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
		ipHdr = uint32(1<<32 + skfNetOff) // SKF_NET_OFF as the 32-bit k the kernel reads (two's complement)
	)
	var v4, v6 []unix.SockFilter
	for _, ap := range addrs {
		ip, port := ap.Addr().Unmap(), uint32(ap.Port())
		if ip.Is4() {
			b := ip.As4()
			v4 = append(v4,
				ins(ldW, 0, 0, ipHdr+12), // source address
				ins(jeq, 0, 3, binary.BigEndian.Uint32(b[:])),
				ins(ldH, 0, 0, ipHdr+20), // source port
				ins(jeq, 0, 1, port),
				ins(ret, 0, 0, 1))
			continue
		}
		b := ip.As16()
		for w := range 4 { // the source address, a word at a time; a mismatch skips the rest
			skip := uint8(2*(3-w) + 3)
			word := binary.BigEndian.Uint32(b[4*w:])
			v6 = append(v6, ins(ldW, 0, 0, ipHdr+8+4*uint32(w)), ins(jeq, 0, skip, word))
		}
		v6 = append(v6,
			ins(ldH, 0, 0, ipHdr+40), // source port
			ins(jeq, 0, 1, port),
			ins(ret, 0, 0, 1))
	}
	prog := []unix.SockFilter{
		ins(ldB, 0, 0, ipHdr),            // version and header length
		ins(jeq, 1, 0, 0x45),             // IPv4 without options: the IPv4 addresses
		ins(ja, 0, 0, uint32(len(v4)+1)), // else: IPv6?
	}
	prog = append(prog, v4...)
	prog = append(prog, ins(ret, 0, 0, 0))
	prog = append(prog,
		ins(and, 0, 0, 0xf0),
		ins(jeq, 1, 0, 0x60),
		ins(ret, 0, 0, 0),
		ins(ldB, 0, 0, ipHdr+6), // next header
		ins(jeq, 1, 0, unix.IPPROTO_UDP),
		ins(ret, 0, 0, 0))
	prog = append(prog, v6...)
	return append(prog, ins(ret, 0, 0, 0))
}

// read is a socket's goroutine: it reads batches and queues them for
// quic-go, waiting while the queue is full, and, for the strangers'
// socket (budget), while it read more than strangerBudget allows, until
// Close.
func (s *steeredConn) read(c *net.UDPConn, out chan<- *batch, budget bool) {
	defer s.readers.Done()
	pc := ipv4.NewPacketConn(c)
	bud := bucket{tokens: strangerBurst, at: time.Now()}
	pause := time.NewTimer(0)
	<-pause.C
	for {
		if budget {
			bud.refill(time.Now(), time.Second/strangerBudget, strangerBurst)
			if bud.tokens < 0 {
				pause.Reset(time.Duration(-bud.tokens * float64(time.Second/strangerBudget)))
				select {
				case <-pause.C:
				case <-s.closed:
					return
				}
				continue
			}
		}
		b := s.pool.Get().(*batch)
		for i := range b.msgs {
			b.msgs[i].Buffers[0] = b.msgs[i].Buffers[0][:cap(b.msgs[i].Buffers[0])]
			b.msgs[i].OOB = b.msgs[i].OOB[:cap(b.msgs[i].OOB)]
		}
		n, err := pc.ReadBatch(b.msgs, 0)
		if err != nil {
			s.pool.Put(b)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select { // not seen on Linux; no busy loop if it happens
			case <-s.closed:
				return
			case <-time.After(time.Millisecond):
			}
			continue
		}
		b.n, b.pos = n, 0
		bud.tokens -= float64(n)
		select {
		case out <- b:
		case <-s.closed:
			return
		}
	}
}

// ReadBatch hands quic-go up to len(ms) datagrams, the peers' first,
// waiting for one until the read deadline. Only quic-go's reading
// goroutine calls it.
func (s *steeredConn) ReadBatch(ms []ipv4.Message, _ int) (int, error) {
	for {
		n := s.fill(ms, &s.curPeer, s.peerCh)
		if n == 0 {
			n = s.fill(ms, &s.curStranger, s.strangerCh)
		}
		if n > 0 {
			return n, nil
		}
		s.dlMu.Lock()
		dl := s.deadline
		s.dlMu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case b := <-s.peerCh:
			s.curPeer = b
		case b := <-s.strangerCh:
			s.curStranger = b
		case <-s.kick:
		case <-timeout:
		case <-s.closed:
			return 0, net.ErrClosed
		}
	}
}

// fill copies datagrams of *cur, then of the batches queued in ch, into
// ms without waiting, and returns how many.
func (s *steeredConn) fill(ms []ipv4.Message, cur **batch, ch <-chan *batch) int {
	n := 0
	for n < len(ms) {
		b := *cur
		if b == nil || b.pos == b.n {
			if b != nil {
				s.pool.Put(b)
				*cur = nil
			}
			select {
			case b = <-ch:
				*cur = b
			default:
				return n
			}
			continue
		}
		src, dst := &b.msgs[b.pos], &ms[n]
		dst.N = copy(dst.Buffers[0], src.Buffers[0][:src.N])
		dst.NN = copy(dst.OOB, src.OOB[:src.NN])
		dst.Flags, dst.Addr = src.Flags, src.Addr
		b.pos++
		n++
	}
	return n
}

// ReadMsgUDP reads one datagram (quic.OOBCapablePacketConn; quic-go reads
// through ReadBatch).
func (s *steeredConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	ms := []ipv4.Message{{Buffers: [][]byte{b}, OOB: oob}}
	if _, err = s.ReadBatch(ms, 0); err != nil {
		return 0, 0, 0, nil, err
	}
	addr, _ = ms[0].Addr.(*net.UDPAddr)
	return ms[0].N, ms[0].NN, ms[0].Flags, addr, nil
}

// ReadFrom reads one datagram (net.PacketConn).
func (s *steeredConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, _, _, addr, err := s.ReadMsgUDP(b, nil)
	return n, addr, err
}

// WriteMsgUDP sends from the listening address.
func (s *steeredConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	return s.pub.WriteMsgUDP(b, oob, addr)
}

// WriteTo sends from the listening address.
func (s *steeredConn) WriteTo(b []byte, addr net.Addr) (int, error) { return s.pub.WriteTo(b, addr) }

// LocalAddr returns the listening address.
func (s *steeredConn) LocalAddr() net.Addr { return s.pub.LocalAddr() }

// SetReadDeadline sets the deadline of ReadBatch (quic-go sets one to end
// its reading goroutine when its transport closes).
func (s *steeredConn) SetReadDeadline(t time.Time) error {
	s.dlMu.Lock()
	s.deadline = t
	s.dlMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline sets the write deadline of both sockets.
func (s *steeredConn) SetWriteDeadline(t time.Time) error {
	return errors.Join(s.pub.SetWriteDeadline(t), s.peer.SetWriteDeadline(t))
}

// SetDeadline sets both deadlines.
func (s *steeredConn) SetDeadline(t time.Time) error {
	return errors.Join(s.SetReadDeadline(t), s.SetWriteDeadline(t))
}

// SetReadBuffer sizes both sockets' receive buffers.
func (s *steeredConn) SetReadBuffer(n int) error {
	return errors.Join(s.peer.SetReadBuffer(n), s.pub.SetReadBuffer(n))
}

// SetWriteBuffer sizes both sockets' send buffers.
func (s *steeredConn) SetWriteBuffer(n int) error {
	return errors.Join(s.peer.SetWriteBuffer(n), s.pub.SetWriteBuffer(n))
}

// SyscallConn returns a syscall.RawConn whose Control applies to both
// sockets, the strangers' last (what quic-go reads back is its), so that
// both get the socket options quic-go sets (ECN, packet info, DF).
func (s *steeredConn) SyscallConn() (syscall.RawConn, error) {
	pub, err := s.pub.SyscallConn()
	if err != nil {
		return nil, err
	}
	peer, err := s.peer.SyscallConn()
	if err != nil {
		return nil, err
	}
	return bothRaw{pub, peer}, nil
}

// bothRaw is the syscall.RawConn of a steeredConn.
type bothRaw struct{ pub, peer syscall.RawConn }

// Control runs f on the peers' socket, then on the strangers'.
func (r bothRaw) Control(f func(fd uintptr)) error {
	return errors.Join(r.peer.Control(f), r.pub.Control(f))
}

// Read reads from the strangers' socket (quic-go reads through ReadBatch).
func (r bothRaw) Read(f func(fd uintptr) bool) error { return r.pub.Read(f) }

// Write writes through the strangers' socket.
func (r bothRaw) Write(f func(fd uintptr) bool) error { return r.pub.Write(f) }

// socketDrops returns how many datagrams the kernel dropped at c (its
// receive buffer full), 0 if it cannot tell (SO_MEMINFO, SK_MEMINFO_DROPS).
func socketDrops(c *net.UDPConn) uint64 {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var mem [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(mem))
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
	}); err != nil || errno != 0 || size < 4*(unix.SK_MEMINFO_DROPS+1) {
		return 0
	}
	return uint64(mem[unix.SK_MEMINFO_DROPS])
}

// Close closes both sockets and waits for their goroutines.
func (s *steeredConn) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = errors.Join(s.pub.Close(), s.peer.Close())
		s.readers.Wait()
	})
	return err
}
