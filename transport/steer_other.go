//go:build !linux

package transport

import (
	"errors"
	"net"
	"net/netip"
)

// steeredConn exists on Linux only (steer_linux.go): elsewhere the
// listening port is one socket, for peers and strangers alike.
type steeredConn struct {
	net.PacketConn
	pub *net.UDPConn
}

// listenSteered is not supported here.
func listenSteered(*net.UDPAddr) (*steeredConn, error) { return nil, errors.ErrUnsupported }

func (*steeredConn) setPeers([]netip.AddrPort) error { return nil }

// socketDrops is not known here.
func socketDrops(*net.UDPConn) uint64 { return 0 }
