package transport

import "sync/atomic"

// Stats are cumulative counters since New. They only grow.
type Stats struct {
	MessagesSent     uint64 // messages handed to QUIC (datagram or stream)
	BytesSent        uint64 // encoded bytes of those messages
	MessagesReceived uint64 // messages delivered to the deliver callback
	BytesReceived    uint64 // encoded bytes of those messages
	Reconnects       uint64 // connections to a peer (dialled or accepted) established after the first one
	Dropped          DropStats
	// SocketDrops are the datagrams the kernel dropped at this node's port,
	// its receive buffer full: a flood (Linux; zero elsewhere).
	SocketDrops SocketDrops
}

// SocketDrops counts the datagrams the kernel dropped at the port, by
// socket: the peers' datagrams have a socket of their own where the port
// is steered (docs/transport.md, "Floods").
type SocketDrops struct {
	Peers     uint64 // at the peers' socket (zero when the port is one socket)
	Strangers uint64 // at the strangers' socket, or the port's only socket
}

// DropStats counts what was dropped, by reason. All but QueueFull are inbound.
type DropStats struct {
	Malformed       uint64 // bad msgpack, missing fields, trailing bytes, unknown kind, wrong recipient
	WrongCluster    uint64 // message for another cluster
	BadVersion      uint64 // unknown wire version
	Oversized       uint64 // frame larger than Config.MaxMessageSize
	SpoofedSender   uint64 // From differs from the authenticated peer id
	UnknownPeer     uint64 // valid certificate for an id not in Config.Peers (connection closed)
	HandshakeFailed uint64 // handshake failed, either way: no or untrusted certificate, ...
	QueueFull       uint64 // outbound: the peer's queue was full
	InvalidPacket   uint64 // UDP datagram that is no QUIC packet of a known connection
	DuplicatePeer   uint64 // a peer's certificate used from a second address, and its refused attempts (dup.go)
}

// Total returns the sum of all drop counters.
func (d DropStats) Total() uint64 {
	return d.Malformed + d.WrongCluster + d.BadVersion + d.Oversized + d.SpoofedSender +
		d.UnknownPeer + d.HandshakeFailed + d.QueueFull + d.InvalidPacket + d.DuplicatePeer
}

// counters is the lock-free storage behind Stats.
type counters struct {
	msgsSent, bytesSent, msgsRecv, bytesRecv, reconnects atomic.Uint64
	dropped                                              [numReasons]atomic.Uint64
}

func (c *counters) sent(n int) {
	c.msgsSent.Add(1)
	c.bytesSent.Add(uint64(n))
}

func (c *counters) received(n int) {
	c.msgsRecv.Add(1)
	c.bytesRecv.Add(uint64(n))
}

func (c *counters) drop(r Reason) {
	if int(r) < numReasons {
		c.dropped[r].Add(1)
	}
}

func (c *counters) snapshot() Stats {
	d := func(r Reason) uint64 { return c.dropped[r].Load() }
	return Stats{
		MessagesSent:     c.msgsSent.Load(),
		BytesSent:        c.bytesSent.Load(),
		MessagesReceived: c.msgsRecv.Load(),
		BytesReceived:    c.bytesRecv.Load(),
		Reconnects:       c.reconnects.Load(),
		Dropped: DropStats{
			Malformed:       d(ReasonMalformed),
			WrongCluster:    d(ReasonWrongCluster),
			BadVersion:      d(ReasonBadVersion),
			Oversized:       d(ReasonOversized),
			SpoofedSender:   d(ReasonSpoofedSender),
			UnknownPeer:     d(ReasonUnknownPeer),
			HandshakeFailed: d(ReasonHandshakeFailed),
			QueueFull:       d(ReasonQueueFull),
			InvalidPacket:   d(ReasonInvalidPacket),
			DuplicatePeer:   d(ReasonDuplicatePeer),
		},
	}
}
