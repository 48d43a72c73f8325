package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Peer addresses (issue 15). A peer's address is "host:port", the host an
// IP literal (v4, or v6 in brackets) or a DNS name. New checks the syntax
// only; a name is looked up at every dial attempt (dial, knock), so a peer
// that comes back with a new address (a rescheduled Kubernetes pod) is
// reached again without a restart of anyone, and a name that does not
// resolve yet (peers whose records appear one by one) is reported like an
// unanswering peer (ReasonUnreachable, rate-limited) and retried with the
// peer's backoff. The resolver's own caching applies: Go's pure resolver
// re-reads /etc/hosts at most every 5 s (net/hosts.go, cacheMaxAge), so a
// changed hosts file is seen up to 5 s late; it caches no DNS answers.
//
// Inbound connections are still trusted by certificate only. The addresses
// a name resolved to last stand for the peer's configured address where
// the transport needs one (admit.go, dup.go, report.go): an acceptor that
// sees a peer's connection arrive from an unknown address while the old
// one seems alive looks the name up again before it decides which to keep
// (accept.go).

// resolveTimeout bounds one lookup. Go's resolver would otherwise wait
// for each nameserver up to resolv.conf's timeout (5 s by default), twice;
// a peer whose lookup fails is retried with its backoff anyway.
const resolveTimeout = 2 * time.Second

// lookupFunc resolves host for network "ip", "ip4" or "ip6"
// (net.Resolver.LookupNetIP); tests replace it.
type lookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// peerAddr is a peer's address as configured, checked for syntax.
type peerAddr struct {
	raw  string         // as configured, for messages
	host string         // an IP literal or a DNS name, without brackets
	port uint16         // never 0
	ip   netip.AddrPort // valid when host is an IP literal
}

// named reports whether the host is a DNS name (to look up at each dial).
func (a peerAddr) named() bool { return !a.ip.IsValid() }

// parsePeerAddr checks the syntax of a peer address: a port of 1-65535 in
// digits, and an IP literal or a valid DNS name. It resolves nothing.
func parsePeerAddr(s string) (peerAddr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return peerAddr{}, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || strings.TrimLeft(port, "0123456789") != "" {
		return peerAddr{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	a := peerAddr{raw: s, host: host, port: uint16(n)}
	if ip, err := netip.ParseAddr(host); err == nil {
		a.ip = netip.AddrPortFrom(ip.Unmap(), a.port)
		return a, nil
	}
	if err := validHostname(host); err != nil {
		return peerAddr{}, err
	}
	return a, nil
}

// CheckPeerAddr returns nil if addr is a peer address New accepts:
// "host:port", host an IP address (IPv6 in brackets) or a DNS name, port a
// number from 1 to 65535. It checks the syntax only and resolves nothing,
// so a command can reject a bad address as a usage error before it
// starts a node. (New also refuses an IP of the other family than the
// listening socket's.)
func CheckPeerAddr(addr string) error {
	if _, err := parsePeerAddr(addr); err != nil {
		return fmt.Errorf("transport: %q is not a UDP host:port: %w", addr, err)
	}
	return nil
}

// validHostname checks the syntax of a DNS name (RFC 1123, with '_' as
// Go's resolver allows it): dot-separated labels of 1-63 letters, digits,
// '-' and '_', not beginning or ending with '-', 253 characters at most
// (a trailing dot aside), and a last label that is not all digits, so
// that a mistyped IPv4 address ("10.0.0.256") is an error, not a name.
func validHostname(h string) error {
	name := strings.TrimSuffix(h, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("host %q is neither an IP address nor a DNS name (1-253 characters)", h)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' ||
			strings.TrimLeft(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return fmt.Errorf("host %q is neither an IP address nor a DNS name (label %q: 1-63 of A-Z a-z 0-9 - _, no '-' at either end)", h, l)
		}
	}
	if last := labels[len(labels)-1]; strings.TrimLeft(last, "0123456789") == "" {
		return fmt.Errorf("host %q is neither an IP address nor a DNS name (its last label is all digits)", h)
	}
	return nil
}

// ipNetwork is the lookup network matching the bound socket: an IPv4
// socket reaches only IPv4 addresses, an IPv6 one only IPv6 addresses, and
// a wildcard one ("0.0.0.0" or "[::]", which Go binds dual-stack) both.
func ipNetwork(local netip.Addr) string {
	local = local.Unmap() // net.ResolveUDPAddr gives "0.0.0.0" in its 16-byte form
	switch {
	case !local.IsValid() || local.IsUnspecified(): // ":7400" too
		return "ip"
	case local.Is4():
		return "ip4"
	}
	return "ip6"
}

// reachable reports whether the socket of lookup network nw can send to ip.
func reachable(nw string, ip netip.Addr) bool {
	switch nw {
	case "ip4":
		return ip.Is4()
	case "ip6":
		return ip.Is6()
	}
	return true
}

// addrBook holds the addresses each peer's address stands for now: its IP
// literal, or what its name resolved to last (nothing before the first
// lookup succeeds). Its methods are safe for concurrent use.
type addrBook struct {
	mu   sync.RWMutex
	byIP map[netip.AddrPort]string   // address -> peer id
	byID map[string][]netip.AddrPort // peer id -> addresses
}

func newAddrBook() *addrBook {
	return &addrBook{byIP: make(map[netip.AddrPort]string), byID: make(map[string][]netip.AddrPort)}
}

// set makes addrs (IPv4 unmapped) the addresses of peer id, and reports
// whether they differ from those it had.
func (b *addrBook) set(id string, addrs []netip.AddrPort) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.byID[id]; ok && slices.Equal(old, addrs) {
		return false
	}
	for _, ap := range b.byID[id] {
		if b.byIP[ap] == id {
			delete(b.byIP, ap)
		}
	}
	b.byID[id] = addrs
	for _, ap := range addrs {
		b.byIP[ap] = id
	}
	return true
}

// all returns every peer's addresses.
func (b *addrBook) all() []netip.AddrPort {
	b.mu.RLock()
	defer b.mu.RUnlock()
	all := make([]netip.AddrPort, 0, len(b.byIP))
	for ap := range b.byIP {
		all = append(all, ap)
	}
	return all
}

// at returns the peer whose address ap is, if any.
func (b *addrBook) at(ap netip.AddrPort) (string, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	id, ok := b.byIP[ap]
	return id, ok
}

// of returns the addresses of peer id (shared: do not modify).
func (b *addrBook) of(id string) []netip.AddrPort {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.byID[id]
}

// isAt reports whether ap is one of peer id's addresses.
func (b *addrBook) isAt(id string, ap netip.AddrPort) bool {
	got, ok := b.at(ap)
	return ok && got == id
}

// errNoUsableAddr is the cause of a lookup that found only addresses of
// the other IP family than the socket's.
var errNoUsableAddr = errors.New("no address of the listening socket's IP family")

// resolve looks the peer's name up (an IP literal needs no lookup) and
// records the result in the address book; a failed lookup leaves the last
// addresses there. Lookups of one peer run one at a time. It returns the
// addresses to dial, or an error naming the host.
func (p *peer) resolve(ctx context.Context) ([]netip.AddrPort, error) {
	if !p.where.named() {
		return []netip.AddrPort{p.where.ip}, nil
	}
	p.resolving.Lock()
	defer p.resolving.Unlock()
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := p.q.lookup(ctx, p.q.ipNet, p.where.host)
	if err == nil {
		var addrs []netip.AddrPort
		for _, ip := range ips {
			ip = ip.Unmap()
			if ap := netip.AddrPortFrom(ip, p.where.port); reachable(p.q.ipNet, ip) && !slices.Contains(addrs, ap) {
				addrs = append(addrs, ap)
			}
		}
		if len(addrs) > 0 {
			if p.q.book.set(p.id, addrs) {
				p.q.steerPeers() // their datagrams to the peers' socket (steer_linux.go)
			}
			return addrs, nil
		}
		err = errNoUsableAddr
	}
	return nil, &resolveError{p.where.host, err}
}

// resolveError is a failed lookup of a peer's name.
type resolveError struct {
	host string
	err  error // the resolver's (*net.DNSError), or errNoUsableAddr
}

func (e *resolveError) Error() string { return fmt.Sprintf("cannot resolve %q: %v", e.host, e.err) }
func (e *resolveError) Unwrap() error { return e.err }

// remote is the peer's address for reports: the first address its name
// resolved to last, else the address as configured.
func (p *peer) remote() string {
	if addrs := p.q.book.of(p.id); len(addrs) > 0 {
		return addrs[0].String()
	}
	return p.where.raw
}
