package transport

import (
	"context"
	"crypto/tls"
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
//     backoff when it is lost; the other only accepts, and queues what it
//     sends until the connection comes.
//   - The newest connection from an authenticated peer id replaces the
//     older one (accept.go), unless the older one is alive and came from
//     another address: then the newcomer is a duplicate holder of the id's
//     certificate, and is refused (dup.go).
//   - An acceptor without a connection knocks: it dials a short-lived
//     connection, sends its queue on it, and closes it once the dialer's
//     connection has come. A knock tells the dialer that its connection is
//     stale (the acceptor restarted): it redials at once (see the knock
//     rules in the design doc).
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
// dialer, else takes what acceptLoop hands over), replaces it when it is
// lost, and drains the queue; Send only appends to the queue.
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
// reconnect, until Close.
func (p *peer) run() {
	defer p.q.wg.Done()
	ctx, flush := p.q.ctx, p.q.flush
	bo := backoff{min: backoffMin, max: backoffMax}
	connected := false // ever, for Stats.Reconnects
	flushing := false
	var conn *quic.Conn
	var connAt time.Time   // when conn was obtained
	var closedAt time.Time // when the peer last closed conn (Close)
	// Dialer only: a connection the peer closed at once as a duplicate's
	// (dup.go: its name still maps to the address of our previous
	// incarnation, in its resolver's cache) is dialled again after a
	// backoff of its own, which a connection lost otherwise resets; the
	// dial's backoff restarts at each connection made.
	var refusedUntil time.Time
	rbo := backoff{min: refusedMin, max: backoffMax}
	// Acceptor only: the knock (knock.go).
	kn := newKnocker(p)
	kn.wanted = !p.dialer // knock once at Start
	defer func() {
		if conn != nil {
			conn.CloseWithError(0, "closing")
		}
		kn.stop()
	}()
	// use makes c the connection to send on.
	use := func(c *quic.Conn, how string) {
		if connected {
			p.q.cnt.reconnects.Add(1)
		}
		connected = true
		conn, connAt = c, time.Now()
		p.q.logf(p.id, "%s %s at %s", how, p.id, c.RemoteAddr())
		kn.connected()
		// Send what queued meanwhile at once: the acceptor's wait consumed
		// the wake-up, and a full queue gives none (Send only drops).
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	for {
		if conn == nil {
			if flushing {
				<-ctx.Done()
				return
			}
			if !p.dialer {
				// Wait for the peer to dial; messages stay queued, or go on
				// a knock (knock.go).
				timer := kn.start()
				var knockLost <-chan struct{}
				if kn.conn != nil {
					if !kn.send() {
						continue
					}
					knockLost = kn.conn.Context().Done()
					timer = time.After(time.Until(kn.until))
				}
				select {
				case c := <-p.accepted:
					use(c, "connected by")
				case <-p.wake:
					continue
				case r := <-p.knockRes:
					kn.done(r, conn == nil && !flushing)
					continue
				case <-knockLost:
					kn.conn = nil
					continue
				case <-timer:
					kn.expire()
					continue
				case <-flush:
					flushing = true
					p.flushed <- kn.flush()
					continue
				case <-ctx.Done():
					return
				}
			} else {
				if d := max(time.Until(closedAt.Add(closedWait)), time.Until(refusedUntil)); d > 0 {
					// The peer closed: it is shutting down, and dialling
					// now may reach its closing process. It knocks when it
					// is back. Or it refused us: not in a tight loop.
					select {
					case <-time.After(d):
					case <-p.knocks:
					case <-flush:
						flushing = true
						p.flushed <- 0
						continue
					case <-ctx.Done():
						return
					}
				}
				c, to, err := p.dial(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					if isHandshakeError(err) {
						// Reachable, but not trusted (or not trusting us):
						// a certificate problem to fix, not a network one.
						p.q.drop(ReasonHandshakeFailed, p.id, to, err)
					} else {
						// Not answering, or its name does not resolve (yet).
						p.q.report(&DropError{Reason: ReasonUnreachable, Peer: p.id, Remote: to, Err: err})
					}
					select {
					case <-time.After(bo.next()):
					case <-p.knocks: // it is up: dial now
					case <-flush:
						flushing = true
						p.flushed <- 0
					case <-ctx.Done():
						return
					}
					continue
				}
				bo.reset()
				p.q.serve(c, p.id)
				use(c, "connected to")
			}
		}
		var flushNow bool
		select {
		case <-ctx.Done():
			return
		case <-conn.Context().Done():
			cause := context.Cause(conn.Context())
			p.q.logf(p.id, "connection with %s lost: %v", p.id, cause)
			conn = nil
			if peerClosed(cause) {
				closedAt = time.Now()
			}
			if refusedAsDuplicate(cause) {
				refusedUntil = time.Now().Add(rbo.next())
			} else {
				rbo.reset()
			}
			kn.connLost()
			continue
		case k := <-p.knocks:
			// The peer dialled us, so its end of conn is gone (it restarted)
			// unless conn is younger than the knock, or the knock is
			// withdrawn: redial at once. Knocks from another address than
			// the peer's are honoured once (dup.go).
			if p.staleAfter(k, connAt) {
				p.q.logf(p.id, "%s knocked: our connection is stale; redialling", p.id)
				conn.CloseWithError(codeStale, "stale: you knocked")
				conn = nil
			}
			continue
		case r := <-p.knockRes:
			kn.done(r, conn == nil && !flushing)
			continue
		case c := <-p.accepted:
			// The dialer has a new connection (it restarted, or lost the
			// old one first); acceptLoop closed the old one.
			if c != conn {
				use(c, "reconnected by")
			}
		case <-p.wake:
		case <-flush:
			if flushing {
				<-ctx.Done()
				return
			}
			flushing, flushNow = true, true
		}
		n, err := p.send(conn, p.take())
		if flushNow {
			p.flushed <- n
		}
		if err != nil {
			p.q.logf(p.id, "sending to %s: %v", p.id, err)
			conn.CloseWithError(0, "send failed")
			conn = nil
			if refusedAsDuplicate(err) {
				refusedUntil = time.Now().Add(rbo.next())
			}
		}
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
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
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

// peerClosed reports whether a connection ended because the peer closed
// it on its Close (code 0).
func peerClosed(err error) bool {
	var ae *quic.ApplicationError
	return errors.As(err, &ae) && ae.Remote && ae.ErrorCode == 0
}

// refusedAsDuplicate reports whether a connection ended because the peer
// closed it as another holder's of this node's id (codeDuplicate).
func refusedAsDuplicate(err error) bool {
	var ae *quic.ApplicationError
	return errors.As(err, &ae) && ae.Remote && ae.ErrorCode == codeDuplicate
}

// isHandshakeError reports whether a dial failed in the TLS handshake
// (a QUIC CRYPTO_ERROR from either side, or a certificate this side
// refused), as opposed to a peer that did not answer.
func isHandshakeError(err error) bool {
	var te *quic.TransportError
	if errors.As(err, &te) && te.ErrorCode.IsCryptoError() {
		return true
	}
	var ve *tls.CertificateVerificationError
	return errors.As(err, &ve)
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
