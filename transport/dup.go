package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// Duplicate holders of a node id (issue 18). Two processes can hold one
// node's certificate: a stale process left running, a copy of a node's
// files, another cluster sharing the CA. Before, the newest inbound
// connection of an id always won, so a second process with a's certificate
// dialling b every 5 ms took the pair's connection over and over: b lost
// 22% of its messages to a, 20% of them delivered to the impostor, with 603
// reconnects in 2 s. Now:
//
//   - An acceptor keeps the connection of an id that is alive when another
//     arrives from a different address, unless only the newcomer comes
//     from the id's configured address (the node at the address this node
//     has for it wins). The loser is closed (codeDuplicate).
//   - A dialer honours one knock per episode from an address other than
//     the peer's configured one (a peer behind a NAT that restarted): it
//     redials the configured address once; a second knock from there
//     means the knocker is not the node it reached.
//   - Either way the loser's address is refused before any handshake for a
//     backoff that doubles (dupBackoffMin to dupBackoffMax) while the
//     episode lasts, and the episode is reported once, naming both
//     addresses (ReasonDuplicatePeer). A peer's configured address is
//     never refused.
//
// A peer's configured address is its IP, or the addresses its name
// resolved to last (resolve.go).
const (
	dupBackoffMin = 500 * time.Millisecond
	dupBackoffMax = time.Minute
	dupForget     = 5 * time.Minute // an address not seen for this long starts a new episode
	maxDups       = 256             // addresses tracked; the oldest episode goes beyond
)

// errDuplicateBlocked refuses an attempt from an address that is backing
// off (counted as ReasonDuplicatePeer, made once: there may be many).
var errDuplicateBlocked = errors.New("transport: refused: this address held a peer's certificate while the peer was connected from elsewhere; backing off")

// dupEntry is one address's episode.
type dupEntry struct {
	id      string
	n       int       // times marked in this episode
	until   time.Time // attempts from the address are refused until then
	last    time.Time // last marked
	backoff time.Duration
}

// dupGuard tracks the addresses of duplicate holders. Its methods are safe
// for concurrent use.
type dupGuard struct {
	mu sync.Mutex
	m  map[netip.AddrPort]*dupEntry
}

// blocked reports whether attempts from ap are refused at now.
func (g *dupGuard) blocked(ap netip.AddrPort, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.m[ap]
	return e != nil && now.Before(e.until)
}

// mark notes that ap held id's certificate without being the holder in
// use, refuses it for the episode's next backoff, and returns how many
// times it was marked in this episode (1: a new one).
func (g *dupGuard) mark(ap netip.AddrPort, id string, now time.Time) (n int, backoff time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[netip.AddrPort]*dupEntry)
	}
	e := g.m[ap]
	if e == nil || e.id != id || now.Sub(e.last) > dupForget {
		if e == nil && len(g.m) >= maxDups {
			g.forgetOldest()
		}
		e = &dupEntry{id: id}
		g.m[ap] = e
	}
	e.n++
	e.backoff = min(dupBackoffMax, max(dupBackoffMin, 2*e.backoff))
	e.last, e.until = now, now.Add(e.backoff)
	return e.n, e.backoff
}

func (g *dupGuard) forgetOldest() {
	var oldest netip.AddrPort
	var at time.Time
	for ap, e := range g.m {
		if at.IsZero() || e.last.Before(at) {
			oldest, at = ap, e.last
		}
	}
	delete(g.m, oldest)
}

// keepInbound decides, for an acceptor, between the alive inbound
// connection in use of peer id and a newcomer c from another address: it
// returns the one to keep and the one to close (the caller closes it),
// and marks and reports the loser.
//
// looked says that id's name was looked up because c arrived (accept.go),
// and before holds id's addresses before that lookup. A connection in use
// from one of them, which the name no longer maps to while it maps to c's
// address, is the peer's previous incarnation (it moved): c replaces it,
// and nothing is marked. A newcomer that the lookup does not confirm is
// closed but its address not refused: the name may still map to the old
// address in a resolver's cache (Go's keeps /etc/hosts up to 5 s), and
// the peer's next attempt looks it up again. A second holder of the
// certificate then costs a handshake and a lookup per attempt, within the
// bounds of admission (admit.go), and is reported once per ErrorInterval.
func (q *QUIC) keepInbound(id string, inUse, c *quic.Conn, looked bool, before []netip.AddrPort) (keep, lose *quic.Conn) {
	keep, lose = inUse, c
	newAt, oldAt := q.book.isAt(id, addrPort(c.RemoteAddr())), q.book.isAt(id, addrPort(inUse.RemoteAddr()))
	if newAt && !oldAt {
		keep, lose = c, inUse
		if looked && slices.Contains(before, addrPort(inUse.RemoteAddr())) {
			return keep, lose
		}
	}
	q.cnt.drop(ReasonDuplicatePeer)
	if looked && lose == c {
		q.report(&DropError{Reason: ReasonDuplicatePeer, Peer: id, Remote: c.RemoteAddr().String(),
			Err: fmt.Errorf("node %q connected from %s while its name maps to %v, where it is connected too; the connection from %s is closed "+
				"(the node moved and the name's new address is not seen yet, or a second process has %q's certificate)",
				id, c.RemoteAddr(), q.book.of(id), c.RemoteAddr(), id)})
		return keep, lose
	}
	n, backoff := q.adm.dups.mark(addrPort(lose.RemoteAddr()), id, time.Now())
	if n == 1 {
		q.report(&DropError{Reason: ReasonDuplicatePeer, Peer: id, Remote: lose.RemoteAddr().String(),
			Err: fmt.Errorf("node %q is also connected from %s; the connection from %s is closed and that address refused for %s, "+
				"longer if it goes on (a second process with %q's certificate?)", id, keep.RemoteAddr(), lose.RemoteAddr(), backoff, id)})
	}
	return keep, lose
}

// honourKnock decides, for a dialer connected to peer p at its configured
// address, whether a knock from another address (a NAT's, or a duplicate
// holder's) makes it redial: once per episode of that address. It marks
// the address, and reports the episode at its second knock.
func (p *peer) honourKnock(from netip.AddrPort) bool {
	n, backoff := p.q.adm.dups.mark(from, p.id, time.Now())
	if n == 1 {
		return true
	}
	p.q.cnt.drop(ReasonDuplicatePeer)
	if n == 2 {
		p.q.report(&DropError{Reason: ReasonDuplicatePeer, Peer: p.id, Remote: from.String(),
			Err: fmt.Errorf("node %q knocks from %s although this node redialled it at %s for its previous knock; "+
				"knocks from %s are ignored and refused for %s, longer if they go on (a second process with %q's certificate?)",
				p.id, from, p.remote(), from, backoff, p.id)})
	}
	return false
}
