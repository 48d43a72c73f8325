package transport

import (
	"time"

	"github.com/quic-go/quic-go"
)

// acceptor is the peer goroutine of the node that accepts the pair's
// connection (the peer's id sorts first): it takes each connection the
// peer dials to it from acceptLoop (handOver), and knocks while it has
// none (knock.go).
type acceptor struct {
	link
	kn knocker
}

// runAcceptor is the peer goroutine of an acceptor, until Close.
func (p *peer) runAcceptor() {
	defer p.q.wg.Done()
	a := &acceptor{link: link{p: p}, kn: newKnocker(p)} // it knocks once at Start
	defer func() {
		a.closeConn()
		a.kn.stop()
	}()
	for a.step() {
	}
}

// step waits for a connection, or serves the one there is, once. It
// returns false when the goroutine must end (Close).
func (a *acceptor) step() bool {
	if a.conn == nil {
		return a.wait()
	}
	return a.serve()
}

// use makes c, dialled by the peer, the connection to send on, and ends
// the knocking.
func (a *acceptor) use(c *quic.Conn, how string) {
	a.link.use(c, how)
	a.kn.connected()
}

// knockDone takes the outcome of a knock dial: the knock is kept open
// only while no connection has come and Close has not begun.
func (a *acceptor) knockDone(r knockResult) {
	a.kn.done(r, a.conn == nil && !a.flushing)
}

// wait waits for the peer to dial, once: messages stay queued, or go on a
// knock. It returns false when the goroutine must end.
func (a *acceptor) wait() bool {
	p := a.p
	if a.flushing {
		return a.stop()
	}
	timer := a.kn.start()
	var knockLost <-chan struct{}
	if a.kn.conn != nil {
		if !a.kn.send() {
			return true
		}
		knockLost = a.kn.conn.Context().Done()
		timer = time.After(time.Until(a.kn.until))
	}
	select {
	case c := <-p.accepted:
		a.use(c, "connected by")
	case <-p.wake:
	case r := <-p.knockRes:
		a.knockDone(r)
	case <-knockLost:
		a.kn.conn = nil
	case <-timer:
		a.kn.expire()
	case <-p.q.flush:
		a.flushing = true
		p.flushed <- a.kn.flush()
	case <-p.q.ctx.Done():
		return false
	}
	return true
}

// serve sends on the connection what the queue holds whenever it is woken,
// and takes the peer's newer connection, until the connection is lost. It
// returns false when the goroutine must end (Close).
func (a *acceptor) serve() bool {
	p := a.p
	var flushNow bool
	select {
	case <-p.q.ctx.Done():
		return false
	case <-a.conn.Context().Done():
		a.lost()
		a.kn.connLost()
		return true
	case r := <-p.knockRes:
		a.knockDone(r)
		return true
	case c := <-p.accepted:
		// The dialer has a new connection (it restarted, or lost the old
		// one first); acceptLoop closed the old one.
		if c != a.conn {
			a.use(c, "reconnected by")
		}
	case <-p.wake:
	case <-p.q.flush:
		if !a.startFlush() {
			return false
		}
		flushNow = true
	}
	a.sendQueued(flushNow)
	return true
}
