package transport

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/quic-go/quic-go"
)

// Connections and framing: the rules the code follows. Why, and what was
// measured to decide it: docs/transport.md.
//
//   - One QUIC connection per pair of nodes carries both directions. The
//     node whose id sorts first (byte-wise) dials it and redials it with
//     backoff when it is lost (dialer.go); the other only accepts, and
//     queues what it sends until the connection comes (acceptor.go).
//   - The newest connection from an authenticated peer id replaces the
//     older one (accept.go), unless the older one is alive and came from
//     another address: then the newcomer is a duplicate holder of the id's
//     certificate, and is refused (dup.go).
//   - An acceptor without a connection knocks: it dials a short-lived
//     connection, sends its queue on it, and closes it once the dialer's
//     connection has come. A knock tells the dialer that its connection is
//     stale (the acceptor restarted): it redials at once (the rules in
//     knock.go).
//   - Messages are QUIC datagrams, one msgpack frame each, never
//     retransmitted; a frame too large for a datagram goes on a
//     unidirectional stream of its own.

// outMsg is an encoded message waiting in a peer's queue.
type outMsg struct {
	kind election.MsgKind
	b    []byte
}

// peer owns the connection to one peer and its send queue. Its goroutine
// (run) obtains the connection (dials it if this node is the pair's
// dialer, dialer.go, else takes what acceptLoop hands over, acceptor.go),
// replaces it when it is lost, and drains the queue; Send only appends to
// the queue.
type peer struct {
	q      *QUIC
	id     string
	where  peerAddr // as configured; a name is resolved at each dial (resolve.go)
	dialer bool     // this node dials the pair's connection (its id sorts first)

	resolving sync.Mutex // one lookup of the name at a time (resolve)
	dialIdx   int        // which of the resolved addresses to dial next; used by one dialling goroutine at a time

	mu    sync.Mutex
	queue []outMsg

	wake     chan struct{}    // capacity 1: "the queue is not empty"
	accepted chan *quic.Conn  // capacity 1: the newest connection accepted from the peer (acceptor only)
	knocks   chan knock       // capacity 1: the newest knock from the peer (dialer only)
	knockRes chan knockResult // capacity 1: the outcome of this node's knock (acceptor only)
	flushed  chan int         // run reports here how many messages it flushed at Close
}

func newPeer(q *QUIC, id string, where peerAddr) *peer {
	return &peer{q: q, id: id, where: where, dialer: q.cfg.ID < id,
		wake: make(chan struct{}, 1), accepted: make(chan *quic.Conn, 1), knocks: make(chan knock, 1),
		knockRes: make(chan knockResult, 1), flushed: make(chan int, 1)}
}

// enqueue appends b to the queue without blocking. A heartbeat first
// removes the heartbeats already queued (the newest wins). It returns false
// and counts the drop when the queue is full.
func (p *peer) enqueue(kind election.MsgKind, b []byte) bool {
	p.mu.Lock()
	if kind == election.MsgHeartbeat {
		kept := p.queue[:0]
		for _, m := range p.queue {
			if m.kind != election.MsgHeartbeat {
				kept = append(kept, m)
			}
		}
		clear(p.queue[len(kept):])
		p.queue = kept
	}
	if len(p.queue) >= p.q.cfg.QueueLen {
		p.mu.Unlock()
		p.q.cnt.drop(ReasonQueueFull)
		p.q.report(&DropError{Reason: ReasonQueueFull, Peer: p.id, Remote: p.remote(),
			Err: errors.New("peer down or slow; message dropped")})
		return false
	}
	p.queue = append(p.queue, outMsg{kind, b})
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// queued reports whether messages wait in the queue.
func (p *peer) queued() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) > 0
}

// take empties the queue and returns what it held.
func (p *peer) take() []outMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queue
	p.queue = nil
	return q
}

// handOver gives the peer goroutine a connection accepted from the peer,
// replacing one handed over earlier and not yet taken. It never blocks,
// also when acceptLoop and an install after a lookup (accept.go) call it
// at once.
func (p *peer) handOver(c *quic.Conn) {
	for {
		select {
		case p.accepted <- c:
			return
		default:
		}
		select {
		case <-p.accepted:
		default:
		}
	}
}

// run is the peer's goroutine: connect (or wait to be connected), send,
// reconnect, until Close. The dialer's (dialer.go) and the acceptor's
// (acceptor.go) share a link.
func (p *peer) run() {
	if p.dialer {
		p.runDialer()
	} else {
		p.runAcceptor()
	}
}

// link is what the peer goroutines of both roles keep: the connection in
// use, and how far Close's flush got. Only the peer goroutine uses it.
type link struct {
	p         *peer
	conn      *quic.Conn // the connection to send on, or nil
	connAt    time.Time  // when conn was obtained
	connected bool       // ever, for Stats.Reconnects
	flushing  bool       // Close's flush began: nothing is sent after it
}

// use makes c the connection to send on.
func (l *link) use(c *quic.Conn, how string) {
	p := l.p
	if l.connected {
		p.q.cnt.reconnects.Add(1)
	}
	l.connected = true
	l.conn, l.connAt = c, time.Now()
	p.q.logf(p.id, "%s %s at %s", how, p.id, c.RemoteAddr())
	// Send what queued meanwhile at once: the acceptor's wait consumed the
	// wake-up, and a full queue gives none (Send only drops).
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// lost forgets the connection, which ended, and returns why it ended.
func (l *link) lost() error {
	cause := context.Cause(l.conn.Context())
	l.p.q.logf(l.p.id, "connection with %s lost: %v", l.p.id, cause)
	l.conn = nil
	return cause
}

// startFlush begins Close's flush on the connection. The flush channel
// stays ready once closed: the second time, it returns l.stop().
func (l *link) startFlush() bool {
	if l.flushing {
		return l.stop()
	}
	l.flushing = true
	return true
}

// stop waits, once the flush began, until Close cancels the context (Close
// closes the connections itself, after its flush grace), and returns false:
// the goroutine ends.
func (l *link) stop() bool {
	if l.flushing {
		<-l.p.q.ctx.Done()
	}
	return false
}

// sendQueued sends the queue on the connection; flushNow reports the
// count to Close. A connection that failed is closed and forgotten; the
// error is returned.
func (l *link) sendQueued(flushNow bool) error {
	p := l.p
	n, err := p.send(l.conn, p.take())
	if flushNow {
		p.flushed <- n
	}
	if err != nil {
		p.q.logf(p.id, "sending to %s: %v", p.id, err)
		l.conn.CloseWithError(0, "send failed")
		l.conn = nil
	}
	return err
}

// closeConn closes the connection as the goroutine ends.
func (l *link) closeConn() {
	if l.conn != nil {
		l.conn.CloseWithError(0, "closing")
	}
}

// dial resolves the peer's address (resolve.go), opens a connection to it
// from the shared UDP socket and checks that it supports datagrams. It
// returns the address dialled (the address as configured if its name did
// not resolve). When a name resolves to several addresses, each attempt
// dials the one after the address that failed last.
func (p *peer) dial(ctx context.Context) (*quic.Conn, string, error) {
	addrs, err := p.resolve(ctx)
	if err != nil {
		return nil, p.where.raw, err
	}
	to := addrs[p.dialIdx%len(addrs)]
	ctx, cancel := context.WithTimeout(ctx, p.q.dialTimeout)
	defer cancel()
	c, err := p.q.tr.Dial(ctx, net.UDPAddrFromAddrPort(to), p.q.creds.ClientConfig(p.id), p.q.qconf)
	if err != nil {
		p.dialIdx++
		return nil, to.String(), err
	}
	if !c.ConnectionState().SupportsDatagrams.Remote {
		c.CloseWithError(1, "datagrams required")
		return nil, to.String(), errors.New("transport: peer does not support QUIC datagrams")
	}
	return c, to.String(), nil
}

// send writes msgs on conn and returns how many went out. An error means
// the connection is unusable; the remaining messages are lost (delivery is
// best effort, and the election retries on its own timers).
func (p *peer) send(conn *quic.Conn, msgs []outMsg) (int, error) {
	for i, m := range msgs {
		err := conn.SendDatagram(m.b)
		var tooLarge *quic.DatagramTooLargeError
		if errors.As(err, &tooLarge) {
			err = p.sendStream(conn, m.b)
		}
		if err != nil {
			return i, err
		}
		p.q.cnt.sent(len(m.b))
	}
	return len(msgs), nil
}

// sendStream sends b on a unidirectional stream of its own.
func (p *peer) sendStream(conn *quic.Conn, b []byte) error {
	ctx, cancel := context.WithTimeout(p.q.ctx, streamTimeout)
	defer cancel()
	s, err := conn.OpenUniStreamSync(ctx)
	if err != nil {
		return err
	}
	s.SetWriteDeadline(time.Now().Add(streamTimeout))
	if _, err := s.Write(b); err != nil {
		s.CancelWrite(0)
		return err
	}
	return s.Close()
}
