package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// Inbound side: the connections peers dial to us, reading messages from
// every connection (dialled or accepted), and everything that arrives on
// the socket that is not a good message from a peer.

// Application error codes sent when this node closes an inbound connection.
const (
	codeUnknownPeer quic.ApplicationErrorCode = 0x100 + iota
	codeReplaced
	codeNoDatagrams
	codeKnockDone // an acceptor closes its knock (knock.go)
	codeStale     // a dialer closes its connection after a knock (knock.go)
	codeDuplicate // another connection of the id is in use (dup.go)
)

// attempt tracks one inbound connection attempt from its first Initial
// packet, so that handshakes which fail (and therefore never reach Accept)
// can be counted.
type attempt struct {
	remote   string
	start    time.Time // first packet
	slot     *slot     // its place among the handshakes in progress (admit.go)
	accepted atomic.Bool
	knocker  atomic.Bool // it presented the verified certificate of a peer that may knock (knock.go)
}

type attemptKey struct{}

// connContext is quic.Transport.ConnContext: it runs for every inbound
// connection attempt that quic-go is about to create state for, refuses
// it if its source has too many handshakes in progress (admit.go), and
// counts it as a failed handshake if its context ends before acceptLoop
// took the connection.
func (q *QUIC) connContext(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	sl, err := q.adm.admit(info.RemoteAddr)
	switch {
	case err == errDuplicateBlocked:
		q.cnt.drop(ReasonDuplicatePeer) // counted; the episode is reported once (dup.go)
		return ctx, err
	case err != nil:
		q.drop(ReasonHandshakeFailed, "", info.RemoteAddr.String(), err)
		return ctx, err
	}
	a := &attempt{remote: info.RemoteAddr.String(), start: time.Now(), slot: sl}
	ctx = context.WithValue(ctx, attemptKey{}, a)
	context.AfterFunc(ctx, func() {
		a.slot.release()
		if a.accepted.Load() || q.ctx.Err() != nil {
			return
		}
		if a.knocker.Load() && knockClosed(context.Cause(ctx)) {
			return // a knock closed before we took it (knock.go): no failure
		}
		q.drop(ReasonHandshakeFailed, "", a.remote, context.Cause(ctx))
	})
	return ctx, nil
}

// serverTLS returns the TLS configuration of inbound connections:
// Credentials.ServerConfig, and per connection attempt a copy that marks
// the attempt as a knocker's once the certificate of a peer that may knock
// at this node (one this node dials) is verified. Only then is a close
// that looks like a knock's (knockClosed) no failed handshake: a stranger
// can send such a close in its first packet, and was uncounted (issue 18).
// (The mark comes before the peer proves it holds the certificate's key,
// in TLS's next message; a stranger replaying a peer's certificate and
// closing in between goes uncounted, and achieves nothing else.)
func (q *QUIC) serverTLS() *tls.Config {
	base := q.creds.ServerConfig()
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		a, ok := hello.Context().Value(attemptKey{}).(*attempt)
		if !ok {
			return nil, nil
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			id, err := q.creds.verifyPeer(raw, x509.ExtKeyUsageClientAuth)
			if err == nil && q.peers[id] != nil && q.peers[id].dialer {
				a.knocker.Store(true)
			}
			return err
		}
		return c, nil
	}
	return base
}

// knockClosed reports whether err is a peer's close of its knock (knock.go):
// with codeKnockDone, or, while the handshake is not confirmed (the code
// travels only in 1-RTT packets), as the transport error APPLICATION_ERROR.
func knockClosed(err error) bool {
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		return ae.Remote && ae.ErrorCode == codeKnockDone
	}
	var te *quic.TransportError
	return errors.As(err, &te) && te.Remote && te.ErrorCode == quic.ApplicationErrorErrorCode
}

// drop counts and reports something dropped.
func (q *QUIC) drop(r Reason, peer, remote string, err error) {
	q.cnt.drop(r)
	q.report(&DropError{Reason: r, Peer: peer, Remote: remote, Err: err})
}

// report passes e to the report callback, rate-limited (report.go).
func (q *QUIC) report(e *DropError) { q.rep.report(e, q.subject(e.Peer, e.Remote)) }

// acceptLoop takes authenticated connections until Close.
func (q *QUIC) acceptLoop() {
	defer q.wg.Done()
	for {
		c, err := q.ln.Accept(q.ctx)
		if err != nil {
			return
		}
		began := time.Now()
		if a, ok := c.Context().Value(attemptKey{}).(*attempt); ok {
			a.accepted.Store(true)
			a.slot.release()
			began = a.start
		}
		remote := c.RemoteAddr().String()
		id, err := PeerID(c.ConnectionState().TLS)
		if err != nil { // cannot happen: ServerConfig checked it
			q.drop(ReasonHandshakeFailed, "", remote, err)
			c.CloseWithError(codeUnknownPeer, "no node id")
			continue
		}
		if q.peers[id] == nil {
			q.drop(ReasonUnknownPeer, id, remote, fmt.Errorf("node %q is not in the peer list", id))
			c.CloseWithError(codeUnknownPeer, "not a peer of this node")
			continue
		}
		p := q.peers[id]
		if !p.dialer && !c.ConnectionState().SupportsDatagrams.Remote {
			c.CloseWithError(codeNoDatagrams, "datagrams required")
			continue
		}
		if !p.dialer && p.where.named() && !q.book.isAt(id, addrPort(c.RemoteAddr())) && q.rivals(id, c) {
			// The peer's name may map to a new address now (it moved and
			// restarted before its old connection timed out): look it up
			// before deciding which connection to keep (dup.go), without
			// holding up the connections of other peers.
			q.wg.Add(1)
			go func() {
				defer q.wg.Done()
				before := q.book.of(id)
				p.resolve(q.ctx) // a failure leaves the addresses known before
				q.install(c, p, began, true, before)
			}()
			continue
		}
		if !q.install(c, p, began, false, nil) {
			return
		}
	}
}

// rivals reports whether peer id has another inbound connection, alive,
// from another address than c's.
func (q *QUIC) rivals(id string, c *quic.Conn) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	old := q.inbound[id]
	return old != nil && old.Context().Err() == nil && old.RemoteAddr().String() != c.RemoteAddr().String()
}

// install makes c, accepted from peer p and authenticated, p's inbound
// connection and reads from it, unless a rival keeps its place (dup.go;
// looked and before: see keepInbound). It returns false (having closed c)
// when the transport is closing.
func (q *QUIC) install(c *quic.Conn, p *peer, began time.Time, looked bool, before []netip.AddrPort) bool {
	if c.Context().Err() != nil {
		return true // lost while its peer's name was looked up
	}
	id, remote := p.id, c.RemoteAddr().String()
	q.mu.Lock()
	if q.inbound == nil { // closing
		q.mu.Unlock()
		c.CloseWithError(0, "closing")
		return false
	}
	old := q.inbound[id]
	if !p.dialer && old != nil && old.Context().Err() == nil && old.RemoteAddr().String() != remote {
		// Two holders of id's certificate at once (dup.go).
		if keep, _ := q.keepInbound(id, old, c, looked, before); keep == old {
			q.mu.Unlock()
			c.CloseWithError(codeDuplicate, "another connection of this node id is in use")
			return true
		}
	}
	q.inbound[id] = c
	q.mu.Unlock()
	if old != nil {
		// The peer redialled (it restarted, or lost the old connection
		// first): the old connection is dead or will not be used again.
		old.CloseWithError(codeReplaced, "replaced by a newer connection")
	}
	q.logf(id, "accepted %s from %s", id, remote)
	q.serve(c, id)
	if !p.dialer {
		p.handOver(c) // the pair's connection: send on it too (conn.go)
	} else {
		p.knocked(knock{began, addrPort(c.RemoteAddr()), c}) // our connection may be stale (knock.go)
	}
	return true
}

// serve starts reading the messages the peer id sends on c, until c is
// closed or the transport is.
func (q *QUIC) serve(c *quic.Conn, id string) {
	q.wg.Add(2)
	go q.readDatagrams(c, id)
	go q.readStreams(c, id)
}

// forget removes c from the inbound table if it is still the current one.
func (q *QUIC) forget(c *quic.Conn, id string) {
	q.mu.Lock()
	if q.inbound[id] == c {
		delete(q.inbound, id)
	}
	q.mu.Unlock()
}

// readDatagrams delivers the messages a peer sends as datagrams.
func (q *QUIC) readDatagrams(c *quic.Conn, id string) {
	defer q.wg.Done()
	defer q.forget(c, id)
	remote := c.RemoteAddr().String()
	for {
		b, err := c.ReceiveDatagram(q.ctx)
		if err != nil {
			return
		}
		q.handle(b, id, remote)
	}
}

// readStreams delivers the messages a peer sends on streams (those too
// large for a datagram), one message per unidirectional stream.
func (q *QUIC) readStreams(c *quic.Conn, id string) {
	defer q.wg.Done()
	remote := c.RemoteAddr().String()
	buf := make([]byte, q.cfg.MaxMessageSize+1)
	for {
		s, err := c.AcceptUniStream(q.ctx)
		if err != nil {
			return
		}
		s.SetReadDeadline(time.Now().Add(streamTimeout))
		n, err := io.ReadFull(s, buf)
		switch {
		case err == nil: // MaxMessageSize+1 bytes and maybe more
			s.CancelRead(0)
			q.drop(ReasonOversized, id, remote, fmt.Errorf("stream longer than %d bytes", q.cfg.MaxMessageSize))
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			q.handle(buf[:n], id, remote)
		default: // reset by the peer, timed out, or connection gone
			s.CancelRead(0)
			if c.Context().Err() != nil {
				return
			}
			q.drop(ReasonMalformed, id, remote, fmt.Errorf("incomplete stream: %w", err))
		}
	}
}

// handle checks one frame from the authenticated peer id and delivers it.
func (q *QUIC) handle(b []byte, id, remote string) {
	m, err := Decode(b, q.cfg.Cluster, q.cfg.MaxMessageSize)
	if err != nil {
		var de *DecodeError
		r := ReasonMalformed
		if errors.As(err, &de) {
			r = de.Reason
		}
		q.drop(r, id, remote, err)
		return
	}
	if m.From != id {
		q.drop(ReasonSpoofedSender, id, remote, fmt.Errorf("message claims to be from %q", m.From))
		return
	}
	if m.To != q.cfg.ID {
		q.drop(ReasonMalformed, id, remote, fmt.Errorf("message addressed to %q, this node is %q", m.To, q.cfg.ID))
		return
	}
	q.cnt.received(len(b))
	q.deliver(m)
}

// readNonQUIC counts UDP datagrams that quic-go recognises as not QUIC at
// all (first two bits zero).
func (q *QUIC) readNonQUIC() {
	defer q.wg.Done()
	buf := make([]byte, 1500)
	for {
		_, addr, err := q.tr.ReadNonQUICPacket(q.ctx, buf)
		if err != nil {
			return
		}
		q.drop(ReasonInvalidPacket, "", addr.String(), errors.New("not a QUIC packet"))
	}
}

// dropRecorder receives quic-go's transport-level trace events and counts
// the packets it drops because they belong to no connection or cannot be
// parsed (random bytes, scans). Connection-level drops (duplicates,
// reordering around key changes) are normal and not counted.
type dropRecorder struct{ q *QUIC }

var _ qlogwriter.Recorder = dropRecorder{}

// droppedByQUIC holds the error of each counted trigger, made once: under
// a flood there is one event per packet.
var droppedByQUIC = func() map[qlog.PacketDropReason]error {
	m := map[qlog.PacketDropReason]error{}
	for _, t := range []qlog.PacketDropReason{qlog.PacketDropHeaderParseError, qlog.PacketDropUnexpectedPacket,
		qlog.PacketDropUnexpectedVersion, qlog.PacketDropUnsupportedVersion, qlog.PacketDropUnknownConnectionID,
		qlog.PacketDropDOSPrevention} {
		m[t] = fmt.Errorf("packet dropped by QUIC: %s", t)
	}
	return m
}()

// RecordEvent counts a PacketDropped event of a relevant trigger.
func (r dropRecorder) RecordEvent(ev qlogwriter.Event) {
	pd, ok := ev.(qlog.PacketDropped)
	if !ok {
		return
	}
	if err, ok := droppedByQUIC[pd.Trigger]; ok {
		r.q.drop(ReasonInvalidPacket, "", "", err)
	}
}

// Close does nothing; the counters outlive the trace.
func (dropRecorder) Close() error { return nil }
