package transport

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
)

// TestNew_LeavesTheEnvironmentAlone: New, Start and Close change no
// environment variable; in particular they do not set quic-go's
// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING (a library must not change its
// host's environment). Whatever the buffers the kernel gave, Logf is told
// exactly when they are smaller than quic-go asks for.
func TestNew_LeavesTheEnvironmentAlone(t *testing.T) {
	leakCheck(t)
	const name = "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"
	t.Setenv(name, "") // restored after the test
	require.NoError(t, os.Unsetenv(name))
	before := os.Environ()
	slices.Sort(before)

	var logs lines
	cfg := nodeConfig(certDir(t, "a"), "a")
	cfg.Logf = logs.logf
	q, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, q.Start(func(election.Message) {}, nil))
	rcv, snd, err := socketBuffers(q.udp)
	require.NoError(t, err)
	require.NoError(t, q.Close())

	after := os.Environ()
	slices.Sort(after)
	require.Equal(t, before, after)
	_, set := os.LookupEnv(name)
	require.False(t, set, "New set %s", name)

	var notes []string
	for _, l := range logs.all() {
		if strings.Contains(l, "UDP receive buffer") {
			notes = append(notes, l)
		}
	}
	t.Logf("buffers: receive %d KiB, send %d KiB; notes: %q", rcv/1024, snd/1024, notes)
	if rcv < quicBufferSize || snd < quicBufferSize {
		require.Len(t, notes, 1)
		require.Contains(t, notes[0], "transport: a: ")
	} else {
		require.Empty(t, notes)
	}
}

// TestBufferNote: buffers below quic-go's wish give one line naming both
// sizes and the wish; buffers at or above it give none. The sizes are read
// from a real socket.
func TestBufferNote(t *testing.T) {
	require.Empty(t, bufferNote(quicBufferSize, quicBufferSize))
	require.Empty(t, bufferNote(2*quicBufferSize, quicBufferSize+1))
	for _, tc := range [][2]int{{212992, 212992}, {quicBufferSize - 1, quicBufferSize}, {quicBufferSize, 4096}} {
		note := bufferNote(tc[0], tc[1])
		require.Contains(t, note, "receive buffer ", "%v", tc)
		require.Contains(t, note, "7168 KiB quic-go asks for")
	}
	require.Contains(t, bufferNote(212992, 4096), "receive buffer 208 KiB, send buffer 4 KiB")

	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer udp.Close()
	require.NoError(t, udp.SetReadBuffer(64<<10))
	require.NoError(t, udp.SetWriteBuffer(32<<10))
	rcv, snd, err := socketBuffers(udp)
	require.NoError(t, err)
	// Linux reports twice what was set (its bookkeeping included).
	require.Equal(t, 128<<10, rcv)
	require.Equal(t, 64<<10, snd)
	require.Contains(t, bufferNote(rcv, snd), "receive buffer 128 KiB, send buffer 64 KiB")
}
