package transport

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// Knocks: the rules the code follows (why, and what was measured:
// docs/transport.md).
//
//   - An acceptor without a connection from its peer knocks at Start and
//     whenever it has something to send: it dials a short-lived connection
//     of its own (dialKnock, so its peer goroutine keeps waiting), sends its
//     queue on it, and closes it (codeKnockDone) knockSettle after the
//     dialer's connection comes, or knockLinger after it opened. A knock
//     that completes after the connection came closes once the dialer has
//     its side of the handshake done (closeWhenTaken).
//   - Knocks at one peer are knockInterval apart at least, further (backoff)
//     while they fail, and wait knockInterval after a lost connection, which
//     the dialer is probably redialling already.
//   - A knock tells the dialer that its connection is stale: it closes it
//     (codeStale) and redials at once, unless the connection is less than
//     knockGrace older than the knock, the knock is withdrawn within
//     knockSettle, or it comes from another address than the peer's a
//     second time (dup.go). A knock also ends a dialer's wait (backoff, or
//     closedWait after its peer closed), never a dial in progress.
//   - Only a peer id that this node dials knocks (acceptLoop); a knock is
//     read like any inbound connection, never sent on, and counts in no
//     Stats.Reconnects (the redial it causes does).

// knock is a connection the peer of a dialer dialled to it.
type knock struct {
	at   time.Time      // its first packet
	from netip.AddrPort // its source
	c    *quic.Conn
}

// withdrawn waits up to knockSettle for the knocker to close its knock as
// not needed (codeKnockDone): it dialled while this node's connection was
// on its way, and only now the knock arrived (seen: a knock dialled at
// Start before this node had bound its port came 200 ms later, with the
// first retransmission of its Initial, and made this node redial a
// connection that was fine).
func (k knock) withdrawn() bool {
	select {
	case <-k.c.Context().Done():
		return knockClosed(context.Cause(k.c.Context()))
	case <-time.After(knockSettle):
		return false
	}
}

// knocked tells the peer goroutine of a dialer that the peer knocked. Only
// acceptLoop calls it, so it never blocks.
func (p *peer) knocked(k knock) {
	select {
	case <-p.knocks:
	default:
	}
	p.knocks <- k
}

// staleAfter reports whether knock k means that the dialer's connection,
// obtained at connAt, is stale: the connection is not younger than the
// knock, the knock is not withdrawn, and it comes from the peer's address,
// or from elsewhere for the first time in an episode (dup.go).
func (p *peer) staleAfter(k knock, connAt time.Time) bool {
	return k.at.Sub(connAt) > knockGrace && !k.withdrawn() && (p.q.book.isAt(p.id, k.from) || p.honourKnock(k.from))
}

// knockResult is what a knock dial (dialKnock) returns to the acceptor's
// peer goroutine.
type knockResult struct {
	c         *quic.Conn
	confirmed <-chan struct{} // closed when the peer has completed the handshake (knockTracer)
	err       error
}

// dialKnock dials the peer on behalf of an acceptor that has no connection
// from it, and hands the result to its peer goroutine.
func (p *peer) dialKnock(ctx context.Context) {
	defer p.q.wg.Done()
	confirmed := make(chan struct{})
	c, _, err := p.dial(context.WithValue(ctx, confirmKey{}, confirmed))
	p.knockRes <- knockResult{c, confirmed, err}
}

// confirmKey marks the dial context of a knock. Its value is the channel
// that knockTracer closes when the knock's handshake is confirmed.
type confirmKey struct{}

// knockTracer is quic.Config.Tracer: it traces the knocks this node dials
// (and no other connection), only to learn when the peer has completed
// the handshake (HANDSHAKE_DONE, RFC 9001 4.1.2).
func knockTracer(ctx context.Context, isClient bool, _ quic.ConnectionID) qlogwriter.Trace {
	ch, ok := ctx.Value(confirmKey{}).(chan struct{})
	if !isClient || !ok {
		return nil
	}
	return &confirmTrace{ch: ch}
}

// confirmTrace closes ch at the event HandshakeConfirmed.
type confirmTrace struct {
	once sync.Once
	ch   chan struct{}
}

func (t *confirmTrace) AddProducer() qlogwriter.Recorder { return t }

func (t *confirmTrace) RecordEvent(ev qlogwriter.Event) {
	if e, ok := ev.(qlog.ConnectionStateUpdated); ok && e.State == qlog.ConnectionStateHandshakeConfirmed {
		t.once.Do(func() { close(t.ch) })
	}
}

func (t *confirmTrace) Close() error { return nil }

// knocker is the knocking state of an acceptor's peer goroutine, which
// alone uses it.
type knocker struct {
	p        *peer
	conn     *quic.Conn // the open knock, or nil
	dialling bool       // a knock is being dialled (dialKnock)
	wanted   bool       // knock even with nothing queued (once, at Start)
	until    time.Time  // the open knock closes then if no connection came
	next     time.Time  // the next knock may begin then
	bo       backoff
}

func newKnocker(p *peer) knocker {
	return knocker{p: p, wanted: true, bo: backoff{min: knockInterval, max: backoffMax}}
}

// start begins a knock if one is wanted (at Start, or messages wait) and
// none is open or being dialled. When the next knock may only begin later,
// it returns a timer for that instant.
func (k *knocker) start() <-chan time.Time {
	if k.conn != nil || k.dialling || !(k.wanted || k.p.queued()) {
		return nil
	}
	if d := time.Until(k.next); d > 0 {
		return time.After(d)
	}
	k.wanted, k.dialling = false, true
	k.next = time.Now().Add(max(knockInterval, k.bo.next()))
	k.p.q.wg.Add(1)
	go k.p.dialKnock(k.p.q.ctx)
	return nil
}

// done takes the outcome of a knock dial. needed is false when the
// dialer's connection came meanwhile, or the transport is closing: then
// the knock is closed at once.
func (k *knocker) done(r knockResult, needed bool) {
	k.dialling = false
	p := k.p
	var re *resolveError
	switch {
	case errors.As(r.err, &re):
		// Reported as the dialer's failures are: the name may never
		// resolve here, and this node would not know its peer.
		p.q.report(&DropError{Reason: ReasonUnreachable, Peer: p.id, Remote: p.where.raw, Err: r.err})
	case r.err != nil:
		p.q.logf(p.id, "knocking at %s: %v", p.id, r.err)
	case !needed:
		k.closeWhenTaken(r, "not needed")
	default:
		p.q.logf(p.id, "knocked at %s", p.id)
		k.conn, k.until = r.c, time.Now().Add(knockLinger)
	}
}

// closeWhenTaken closes a knock once the peer has completed its handshake
// (or given up on it, or after twice handshakeTimeout). Closed as soon as
// Dial returned, it could end before the client's last handshake flight
// (its certificate) left: quic-go v0.65 checks for a close just before it
// sends, so a close from another goroutine wins, under load, and the peer
// counted a failed handshake (seen: 5 of 80 runs of
// TestQUIC_IPv6AndWildcardListen beside 6 CPU hogs on 2 cores). The peer goroutine holds a
// count of wg, so Close has not begun to wait.
func (k *knocker) closeWhenTaken(r knockResult, why string) {
	q := k.p.q
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		select {
		case <-r.confirmed:
		case <-r.c.Context().Done():
		case <-q.ctx.Done():
		case <-time.After(2 * handshakeTimeout):
		}
		r.c.CloseWithError(codeKnockDone, why)
	}()
}

// send sends what is queued on the open knock. It returns false, having
// closed the knock, when that failed.
func (k *knocker) send() bool {
	if _, err := k.p.send(k.conn, k.p.take()); err != nil {
		k.p.q.logf(k.p.id, "sending to %s on the knock: %v", k.p.id, err)
		k.close("send failed")
		return false
	}
	return true
}

// flush sends what is queued on the open knock at Close, and returns how
// many messages went out.
func (k *knocker) flush() int {
	if k.conn == nil {
		return 0
	}
	n, _ := k.p.send(k.conn, k.p.take())
	return n
}

// expire closes the open knock if its time is up.
func (k *knocker) expire() {
	if k.conn != nil && !time.Now().Before(k.until) {
		k.close("no connection came")
	}
}

// close closes the open knock, if any.
func (k *knocker) close(why string) {
	if k.conn != nil {
		k.conn.CloseWithError(codeKnockDone, why)
		k.conn = nil
	}
}

// connected ends the knocking: the dialer's connection came. What was
// just sent on the knock may still be on its way, so the knock closes a
// little later (its datagrams are read only while it is open).
func (k *knocker) connected() {
	if c := k.conn; c != nil {
		k.conn = nil
		k.p.q.wg.Add(1) // the peer goroutine holds one: Close has not begun to wait
		time.AfterFunc(knockSettle, func() {
			defer k.p.q.wg.Done()
			c.CloseWithError(codeKnockDone, "connected")
		})
	}
	k.bo.reset()
}

// connLost gives the dialer knockInterval to redial after the pair's
// connection was lost, before the next knock.
func (k *knocker) connLost() {
	if t := time.Now().Add(knockInterval); t.After(k.next) {
		k.next = t
	}
}

// stop closes the open knock and the one being dialled, when the peer
// goroutine returns (the transport's context is done, so a dial in
// progress ends soon).
func (k *knocker) stop() {
	k.close("closing")
	if k.dialling {
		if r := <-k.p.knockRes; r.c != nil {
			r.c.CloseWithError(0, "closing")
		}
	}
}
