package main

// The delay relay.
//
// This kernel has no tc netem, so delay, jitter and reordering are made in
// user space. Every node reaches every peer through the relay, which runs
// in the harness, in the root namespace, on the bridge address
// (relayIP). For each directed pair (i dials j) there is one link:
//
//	node i :7000  -->  relayIP:listenPort(i,j)  [link i->j]  relayIP:outPort(i,j)  -->  node j :7000
//	node i :7000  <--  relayIP:listenPort(i,j)  [link i->j]  relayIP:outPort(i,j)  <--  node j :7000
//
// Node i's configuration names peer j as relayIP:listenPort(i,j). The link
// forwards what arrives on its listen socket to node j from its out socket
// (a fixed port), and what node j sends back to the out socket to the
// last client seen on the listen socket (node i's one QUIC socket, whose
// address survives restarts). QUIC is UDP and authenticates peers by
// certificate, not address, so nodes do not notice the relay.
//
// Each packet is forwarded after a delay drawn uniformly from
// [base, base+jitter] (both 0: at once, inline); two packets a few
// milliseconds apart with jitter larger than that gap are reordered. The
// delay of every link is changed at run time by the schedule.
//
// Because all traffic between i and j carries relayIP and one of the two
// ports listenPort(i,j), outPort(j,i) as seen from node i (the other two,
// listenPort(j,i) and outPort(i,j), are on node j's side), iptables rules
// in node i's namespace can cut one direction of one pair by port: see
// netns.go.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const relayIP = "10.77.0.1"

// listenPort is where node i sends what is meant for node j (1-based).
func listenPort(i, j int) int { return 20000 + 100*i + j }

// outPort is where the link i->j sends from towards node j.
func outPort(i, j int) int { return 30000 + 100*i + j }

// nodeIP is node i's address in its namespace.
func nodeIP(i int) string { return fmt.Sprintf("10.77.0.%d", 10+i) }

const nodePort = 7000

type delay struct{ base, jitter time.Duration }

type link struct {
	in, out *net.UDPConn
	dst     *net.UDPAddr
	client  atomic.Pointer[net.UDPAddr]
	delay   atomic.Pointer[delay]
	mu      sync.Mutex
	rng     *rand.Rand
}

// Relay holds the links between n nodes.
type Relay struct {
	links map[[2]int]*link
	wg    sync.WaitGroup
}

// NewRelay opens the links between nodes 1..n.
func NewRelay(n int) (*Relay, error) {
	r := &Relay{links: map[[2]int]*link{}}
	for i := 1; i <= n; i++ {
		for j := 1; j <= n; j++ {
			if i == j {
				continue
			}
			in, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(relayIP), Port: listenPort(i, j)})
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("relay: %w", err)
			}
			out, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(relayIP), Port: outPort(i, j)})
			if err != nil {
				in.Close()
				r.Close()
				return nil, fmt.Errorf("relay: %w", err)
			}
			l := &link{in: in, out: out, dst: &net.UDPAddr{IP: net.ParseIP(nodeIP(j)), Port: nodePort},
				rng: rand.New(rand.NewPCG(uint64(i), uint64(j)))}
			l.delay.Store(&delay{})
			r.links[[2]int{i, j}] = l
			r.wg.Add(2)
			go func() { defer r.wg.Done(); l.pump(true) }()
			go func() { defer r.wg.Done(); l.pump(false) }()
		}
	}
	return r, nil
}

// SetDelay sets the delay of every link (both directions of each).
func (r *Relay) SetDelay(base, jitter time.Duration) {
	for _, l := range r.links {
		l.delay.Store(&delay{base, jitter})
	}
}

// Close closes every socket and waits for the pumps.
func (r *Relay) Close() {
	for _, l := range r.links {
		l.in.Close()
		l.out.Close()
	}
	r.wg.Wait()
}

// pump forwards one direction: forward (from the dialing node's side,
// in -> out -> dst) or back (dst -> out -> in -> client).
func (l *link) pump(forward bool) {
	src := l.out
	if forward {
		src = l.in
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := src.ReadFromUDP(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue // an ICMP error reported on the socket: the link lives on
		}
		var send func([]byte)
		if forward {
			l.client.Store(from)
			send = func(p []byte) { l.out.WriteToUDP(p, l.dst) }
		} else {
			c := l.client.Load()
			if c == nil {
				continue
			}
			send = func(p []byte) { l.in.WriteToUDP(p, c) }
		}
		d := l.delay.Load()
		if d.base == 0 && d.jitter == 0 {
			send(buf[:n])
			continue
		}
		wait := d.base
		if d.jitter > 0 {
			l.mu.Lock()
			wait += time.Duration(l.rng.Int64N(int64(d.jitter)))
			l.mu.Unlock()
		}
		p := append([]byte(nil), buf[:n]...)
		time.AfterFunc(wait, func() { send(p) })
	}
}
