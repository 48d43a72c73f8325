package transport

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/quic-go/quic-go"
)

// dialer is the peer goroutine of the node that dials the pair's
// connection (its id sorts first): it dials, redials with backoff when the
// connection is lost, and redials at once when the peer knocks (knock.go).
type dialer struct {
	link
	bo       backoff   // between failed dials; restarts at each connection made
	closedAt time.Time // when the peer last closed the connection (its Close)
	// A connection the peer closed at once as a duplicate's (dup.go: its
	// name still maps to the address of our previous incarnation, in its
	// resolver's cache) is dialled again after a backoff of its own, which
	// a connection lost otherwise resets.
	refusedUntil time.Time
	rbo          backoff
}

// runDialer is the peer goroutine of a dialer, until Close.
func (p *peer) runDialer() {
	defer p.q.wg.Done()
	d := &dialer{link: link{p: p}, bo: backoff{min: backoffMin, max: backoffMax}, rbo: backoff{min: refusedMin, max: backoffMax}}
	defer d.closeConn()
	for d.step() {
	}
}

// step makes one attempt at a connection, or serves the one there is,
// once. It returns false when the goroutine must end (Close).
func (d *dialer) step() bool {
	if d.conn == nil {
		return d.connect()
	}
	return d.serve()
}

// connect makes one attempt at a connection: it waits for a peer that
// closed or refused us, dials, and after a failure waits its backoff. It
// returns false when the goroutine must end (Close).
func (d *dialer) connect() bool {
	p, ctx := d.p, d.p.q.ctx
	if d.flushing {
		return d.stop()
	}
	if wait := max(time.Until(d.closedAt.Add(closedWait)), time.Until(d.refusedUntil)); wait > 0 {
		// The peer closed: it is shutting down, and dialling now may reach
		// its closing process. It knocks when it is back. Or it refused
		// us: not in a tight loop.
		if !d.pause(wait) {
			return d.stop()
		}
	}
	c, to, err := p.dial(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		if isHandshakeError(err) {
			// Reachable, but not trusted (or not trusting us): a
			// certificate problem to fix, not a network one.
			p.q.drop(ReasonHandshakeFailed, p.id, to, err)
		} else {
			// Not answering, or its name does not resolve (yet).
			p.q.report(&DropError{Reason: ReasonUnreachable, Peer: p.id, Remote: to, Err: err})
		}
		if !d.pause(d.bo.next()) {
			return d.stop()
		}
		return true
	}
	d.bo.reset()
	p.q.serve(c, p.id)
	d.use(c, "connected to")
	return true
}

// pause waits for wait to pass, or for the peer to knock (it is up: dial
// now). It returns false when Close began meanwhile.
func (d *dialer) pause(wait time.Duration) bool {
	select {
	case <-time.After(wait):
	case <-d.p.knocks:
	case <-d.p.q.flush:
		d.flushing = true
		d.p.flushed <- 0
		return false
	case <-d.p.q.ctx.Done():
		return false
	}
	return true
}

// serve sends on the connection what the queue holds whenever it is woken,
// until the connection is lost or a knock says it is stale. It returns
// false when the goroutine must end (Close).
func (d *dialer) serve() bool {
	p := d.p
	var flushNow bool
	select {
	case <-p.q.ctx.Done():
		return false
	case <-d.conn.Context().Done():
		cause := d.lost()
		if peerClosed(cause) {
			d.closedAt = time.Now()
		}
		if refusedAsDuplicate(cause) {
			d.refusedUntil = time.Now().Add(d.rbo.next())
		} else {
			d.rbo.reset()
		}
		return true
	case k := <-p.knocks:
		// The peer dialled us, so its end of the connection is gone (it
		// restarted), unless the rules of knock.go say otherwise: redial
		// at once.
		if p.staleAfter(k, d.connAt) {
			p.q.logf(p.id, "%s knocked: our connection is stale; redialling", p.id)
			d.conn.CloseWithError(codeStale, "stale: you knocked")
			d.conn = nil
		}
		return true
	case <-p.wake:
	case <-p.q.flush:
		if !d.startFlush() {
			return false
		}
		flushNow = true
	}
	if err := d.sendQueued(flushNow); refusedAsDuplicate(err) {
		d.refusedUntil = time.Now().Add(d.rbo.next())
	}
	return true
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
