package transport

import (
	"errors"
	"fmt"
)

// Reason says why an inbound message, packet or connection was dropped (or,
// for ReasonQueueFull, why an outbound message was). The numbering indexes
// the internal counters; it never changes, new reasons are appended.
type Reason uint8

// The drop reasons. Each has a sentinel error (ErrMalformed, ...) that
// errors.Is matches against a *DecodeError or *DropError of that reason.
const (
	// ReasonMalformed: the payload is not a well-formed version-1 message
	// (bad msgpack, missing or mistyped field, trailing bytes, unknown kind,
	// or addressed to another node).
	ReasonMalformed Reason = iota // malformed
	// ReasonWrongCluster: the message names another cluster.
	ReasonWrongCluster // wrong cluster
	// ReasonBadVersion: the message has an unknown wire version.
	ReasonBadVersion // bad version
	// ReasonOversized: the frame exceeds Config.MaxMessageSize.
	ReasonOversized // oversized
	// ReasonSpoofedSender: the message's From differs from the id in the
	// sender's verified certificate.
	ReasonSpoofedSender // spoofed sender
	// ReasonUnknownPeer: a connection authenticated with a valid cluster
	// certificate whose id is not in Config.Peers.
	ReasonUnknownPeer // unknown peer
	// ReasonHandshakeFailed: a QUIC/TLS handshake failed, inbound (no
	// client certificate, a certificate from another CA, wrong ALPN, ...)
	// or outbound (the peer's certificate is not trusted, or the peer
	// refused ours).
	ReasonHandshakeFailed // handshake failed
	// ReasonQueueFull: an outbound message was dropped because the peer's
	// queue was full (the peer is down or slow).
	ReasonQueueFull // queue full
	// ReasonInvalidPacket: a UDP datagram that is not a QUIC packet of any
	// known connection (random bytes, scans, stray packets of a previous
	// incarnation of a peer).
	ReasonInvalidPacket // invalid packet
	// ReasonUnreachable: a peer could not be dialled, or its name did not
	// resolve (reported, not counted as a drop; see Stats.Reconnects). The
	// error of a failed lookup wraps the resolver's (*net.DNSError).
	ReasonUnreachable // unreachable
	// ReasonDuplicatePeer: a connection (or knock) with a peer's valid
	// certificate from an address other than the one in use for that peer:
	// two processes hold one node's certificate (dup.go). Its attempts are
	// refused for a while, each one counted.
	ReasonDuplicatePeer // duplicate peer

	numReasons = int(ReasonDuplicatePeer) + 1
)

// Reason.String, generated into reason_string.go from the line comments
// above, returns a short lower-case name ("spoofed sender"), or
// "Reason(n)" for a value outside the list.
//
//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=Reason -linecomment -output=reason_string.go

// Sentinel errors, one per Reason, matched with errors.Is.
var (
	// ErrMalformed is matched by errors of ReasonMalformed.
	ErrMalformed = errors.New("transport: malformed message")
	// ErrWrongCluster is matched by errors of ReasonWrongCluster.
	ErrWrongCluster = errors.New("transport: message from another cluster")
	// ErrBadVersion is matched by errors of ReasonBadVersion.
	ErrBadVersion = errors.New("transport: unknown wire version")
	// ErrOversized is matched by errors of ReasonOversized.
	ErrOversized = errors.New("transport: message exceeds the size limit")
	// ErrSpoofedSender is matched by errors of ReasonSpoofedSender.
	ErrSpoofedSender = errors.New("transport: sender differs from the authenticated peer")
	// ErrUnknownPeer is matched by errors of ReasonUnknownPeer.
	ErrUnknownPeer = errors.New("transport: certificate names a node that is not a peer")
	// ErrHandshakeFailed is matched by errors of ReasonHandshakeFailed.
	ErrHandshakeFailed = errors.New("transport: handshake failed")
	// ErrQueueFull is matched by errors of ReasonQueueFull.
	ErrQueueFull = errors.New("transport: peer queue full")
	// ErrInvalidPacket is matched by errors of ReasonInvalidPacket.
	ErrInvalidPacket = errors.New("transport: invalid packet")
	// ErrUnreachable is matched by errors of ReasonUnreachable.
	ErrUnreachable = errors.New("transport: peer unreachable")
	// ErrDuplicatePeer is matched by errors of ReasonDuplicatePeer.
	ErrDuplicatePeer = errors.New("transport: a peer's certificate used from two addresses")

	// ErrClosed is returned by Start after Close, and by a second Start.
	ErrClosed = errors.New("transport: closed")
)

var reasonErrs = [numReasons]error{
	ErrMalformed, ErrWrongCluster, ErrBadVersion, ErrOversized, ErrSpoofedSender,
	ErrUnknownPeer, ErrHandshakeFailed, ErrQueueFull, ErrInvalidPacket, ErrUnreachable, ErrDuplicatePeer,
}

// Err returns the sentinel error of r (ErrMalformed for ReasonMalformed).
func (r Reason) Err() error {
	if int(r) < numReasons {
		return reasonErrs[r]
	}
	return nil
}

// DecodeError is returned by Decode when a frame is rejected.
type DecodeError struct {
	Reason Reason // why: Malformed, WrongCluster, BadVersion or Oversized
	Detail string // what exactly, for people
	Err    error  // the underlying msgpack error, if any
}

var _ error = (*DecodeError)(nil)

// Error returns "transport: decode: <reason>: <detail>", with every
// character that is not printable escaped (printable).
func (e *DecodeError) Error() string {
	s := "transport: decode: " + e.Reason.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return printable(s)
}

// Unwrap returns the underlying msgpack error, if any.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel error of e.Reason.
func (e *DecodeError) Is(target error) bool { return target != nil && target == e.Reason.Err() }

// DropError is what the transport passes to the report callback when it
// drops something a peer (or a stranger) sent, or cannot reach a peer.
type DropError struct {
	Reason Reason // why it was dropped
	Peer   string // the authenticated or intended peer id, "" if unknown
	Remote string // the remote UDP address, "" if unknown
	Err    error  // the cause (a *DecodeError, a TLS or QUIC error), may be nil
}

var _ error = (*DropError)(nil)

// Error returns "transport: <reason> (peer "<id>", <addr>): <cause>", with
// every character that is not printable escaped (printable): the cause may
// hold text a stranger chose, such as the reason phrase of a QUIC
// CONNECTION_CLOSE. Err itself is left as it came.
func (e *DropError) Error() string {
	s := "transport: " + e.Reason.String()
	switch {
	case e.Peer != "" && e.Remote != "":
		s += fmt.Sprintf(" (peer %q, %s)", e.Peer, e.Remote)
	case e.Peer != "":
		s += fmt.Sprintf(" (peer %q)", e.Peer)
	case e.Remote != "":
		s += fmt.Sprintf(" (%s)", e.Remote)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return printable(s)
}

// Unwrap returns the cause.
func (e *DropError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel error of e.Reason.
func (e *DropError) Is(target error) bool { return target != nil && target == e.Reason.Err() }

// ConfigError is returned by New when a Config field is wrong.
type ConfigError struct {
	Field  string // the Config field, e.g. "Listen"
	Reason string // what is wrong with it, with the value
	Err    error  // the underlying cause, may be nil
}

var _ error = (*ConfigError)(nil)

// Error returns "transport: config: <Field> <Reason>[: <cause>]".
func (e *ConfigError) Error() string {
	s := fmt.Sprintf("transport: config: %s %s", e.Field, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// CertError is returned by LoadTLS and New when a certificate, key or CA
// file cannot be read or is unsuitable.
type CertError struct {
	File string // the file at fault
	Err  error  // what is wrong
}

var _ error = (*CertError)(nil)

// Error returns "transport: tls: <file>: <cause>".
func (e *CertError) Error() string { return fmt.Sprintf("transport: tls: %s: %v", e.File, e.Err) }

// Unwrap returns the cause.
func (e *CertError) Unwrap() error { return e.Err }
