package transport

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Admission of inbound connection attempts (issue 18). quic-go creates a
// connection, with its goroutines and about 100 KB, for every well-formed
// Initial packet before it decrypts anything, and keeps it for the
// handshake idle timeout: 5,000 garbage Initials a second from one
// stranger grew a node by 365 MB and 23,000 goroutines and cost it its
// leadership. So the work a source may cause is bounded before any state
// exists:
//
//   - Peers dial from the address they listen on (conn.go), which this node
//     has in Config.Peers (or what its name resolved to last: resolve.go); a stranger on the same host shares their IP but
//     cannot send from their port without spoofing (raw sockets). Attempts
//     from a peer's address have maxPendingPerPeer handshakes in progress
//     of their own, so strangers can never crowd a peer out.
//   - Attempts from any other address are strangers'. Together they have at
//     most maxPendingStrangers handshakes in progress, at most
//     maxPendingPerIP from one IP, and begin at most strangerRate a second.
//     Beyond that quic-go refuses the attempt (CONNECTION_REFUSED), which
//     is counted as a failed handshake.
//   - While retryAbove strangers' handshakes are in progress, a stranger's
//     new attempt must first prove it receives at its address (a QUIC
//     Retry): no state at all for packets from spoofed or unanswering
//     sources, such as a flood of Initials with fresh connection ids.
//
// A peer behind a NAT (not dialling from its configured address) counts as
// a stranger, so a flood can delay its (re)connection, never the
// connections already up.
const (
	maxPendingPerPeer   = 4
	maxPendingStrangers = 32
	maxPendingPerIP     = 8
	strangerRate        = 64 // new handshakes per second, in a burst as many
	retryAbove          = 4
)

// Refusals, made once: under a flood they are many.
var (
	errStrangersBusy = errors.New("transport: refused: too many handshakes from unknown addresses in progress")
	errIPBusy        = errors.New("transport: refused: too many handshakes from this IP in progress")
	errPeerAddrBusy  = errors.New("transport: refused: too many handshakes from this peer's address in progress")
	errStrangerRate  = errors.New("transport: refused: too many new handshakes from unknown addresses")
)

// admission counts the handshakes in progress by source. Its methods are
// safe for concurrent use.
type admission struct {
	book *addrBook // the peers' addresses (resolve.go)

	mu        sync.Mutex
	strangers int                    // strangers' handshakes in progress
	perIP     map[netip.Addr]int     // strangers' handshakes in progress by IP
	perPeer   map[netip.AddrPort]int // handshakes in progress from a peer's address
	rate      limiter[struct{}]      // new handshakes from strangers
	dups      dupGuard               // addresses of duplicate holders, backing off (dup.go)
	relief    *relief                // told of each Retry and refusal: memory back after a flood (relief.go)
}

func newAdmission(book *addrBook) *admission {
	return &admission{book: book, relief: newRelief(),
		perIP: make(map[netip.Addr]int), perPeer: make(map[netip.AddrPort]int),
		rate: limiter[struct{}]{interval: time.Second / strangerRate, burst: strangerRate}}
}

// isPeer reports whether ap is a peer's address.
func (a *admission) isPeer(ap netip.AddrPort) bool {
	_, ok := a.book.at(ap)
	return ok
}

// addrPort returns a UDP address as a comparable value (IPv4 unmapped).
func addrPort(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// slot is an admitted handshake; release ends it once.
type slot struct {
	adm  *admission
	from netip.AddrPort
	peer bool
	once sync.Once
}

// mustValidate is quic.Transport.VerifySourceAddress: true asks quic-go to
// answer with a Retry before it creates anything for the attempt.
func (a *admission) mustValidate(from net.Addr) bool {
	if a.isPeer(addrPort(from)) {
		return false
	}
	a.mu.Lock()
	retry := a.strangers >= retryAbove
	a.mu.Unlock()
	if retry {
		a.relief.loaded()
	}
	return retry
}

// admit returns a slot for an attempt from, or the reason it is refused.
func (a *admission) admit(from net.Addr) (*slot, error) {
	s, err := a.admitOrRefuse(from)
	if err != nil {
		a.relief.loaded()
	}
	return s, err
}

func (a *admission) admitOrRefuse(from net.Addr) (*slot, error) {
	ap := addrPort(from)
	s := &slot{adm: a, from: ap, peer: a.isPeer(ap)}
	if !s.peer && a.dups.blocked(ap, time.Now()) {
		return nil, errDuplicateBlocked
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.peer {
		if a.perPeer[ap] >= maxPendingPerPeer {
			return nil, errPeerAddrBusy
		}
		a.perPeer[ap]++
		return s, nil
	}
	switch {
	case a.strangers >= maxPendingStrangers:
		return nil, errStrangersBusy
	case a.perIP[ap.Addr()] >= maxPendingPerIP:
		return nil, errIPBusy
	}
	if ok, _ := a.rate.allow(struct{}{}, time.Now()); !ok {
		return nil, errStrangerRate
	}
	a.strangers++
	a.perIP[ap.Addr()]++
	return s, nil
}

// release ends the handshake of s (accepted or failed); later calls do
// nothing.
func (s *slot) release() {
	s.once.Do(func() {
		a := s.adm
		a.mu.Lock()
		defer a.mu.Unlock()
		if s.peer {
			if a.perPeer[s.from]--; a.perPeer[s.from] <= 0 {
				delete(a.perPeer, s.from)
			}
			return
		}
		a.strangers--
		if a.perIP[s.from.Addr()]--; a.perIP[s.from.Addr()] <= 0 {
			delete(a.perIP, s.from.Addr())
		}
	})
}

// pending returns the handshakes in progress: strangers' and from peers'
// addresses.
func (a *admission) pending() (strangers, peers int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range a.perPeer {
		peers += n
	}
	return a.strangers, peers
}
