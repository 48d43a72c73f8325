package transport

import (
	"fmt"
	"net"
	"syscall"
)

// quic-go asks the kernel for UDP buffers of quicBufferSize when a
// quic.Transport starts (v0.65: sys_conn.go, wrapConn) and, when it gets
// less, writes one line per process through Go's standard log package,
// unless QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING is set. A library must
// neither change its host's environment nor redirect the host's standard
// logger: the C library routes that logger to the nodes' log callbacks
// (capi/log.go), and a Go host owns it. graft's messages are tiny, so
// small buffers are no fault: New says what it got, once, through Logf
// (docs/transport.md).
const quicBufferSize = 7 << 20 // quic-go's desiredBufferSize

// socketBuffers returns the receive and send buffer sizes of udp as the
// kernel reports them (Linux reports twice what was set: its bookkeeping
// is included, and quic-go compares that figure too).
func socketBuffers(udp *net.UDPConn) (rcv, snd int, err error) {
	raw, err := udp.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	cerr := raw.Control(func(fd uintptr) {
		rcv, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		if err == nil {
			snd, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		}
	})
	if cerr != nil {
		return 0, 0, cerr
	}
	return rcv, snd, err
}

// bufferNote returns the diagnostic line for buffers of rcv and snd bytes
// when either is smaller than quic-go asks for, and "" otherwise.
func bufferNote(rcv, snd int) string {
	if rcv >= quicBufferSize && snd >= quicBufferSize {
		return ""
	}
	return fmt.Sprintf("UDP receive buffer %d KiB, send buffer %d KiB: less than the %d KiB quic-go asks for "+
		"(net.core.rmem_max, wmem_max), ample for graft's messages; quic-go says so once per process through Go's log package",
		rcv/1024, snd/1024, quicBufferSize/1024)
}

// noteBuffers says through Logf, once, when the socket's buffers are
// smaller than quic-go asks for. It runs after quic-go tried to enlarge
// them (the first Listen or Dial of q.tr).
func (q *QUIC) noteBuffers() {
	rcv, snd, err := socketBuffers(q.udp)
	if err != nil {
		q.logf("", "reading the UDP buffer sizes: %v", err)
		return
	}
	if note := bufferNote(rcv, snd); note != "" {
		q.logf("", "%s", note)
	}
}
