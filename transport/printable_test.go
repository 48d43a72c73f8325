package transport

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/graftlib/graft/transport/internal/quicpkt"
	"github.com/stretchr/testify/require"
)

// injection is a reason phrase that would forge a log line and erase the
// terminal line before it (issue 18).
const injection = "x\n2030-01-01T00:00:00Z graft: FAKE LINE\x1b[2K"

// requirePrintable fails if s holds a character that is not printable.
func requirePrintable(t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		require.False(t, r < 0x20 || r == 0x7f || r == 0x202e, "unprintable %U in %q", r, s)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		`peer "a" (1.2.3.4:5): \ ok`: `peer "a" (1.2.3.4:5): \ ok`,
		"héllo ✓ \ufffd":             "héllo ✓ \ufffd",
		injection:                    `x\n2030-01-01T00:00:00Z graft: FAKE LINE\x1b[2K`,
		"tab\there\r":                `tab\there\r`,
		"rtl\u202eevil":              `rtl\u202eevil`,
		"bad \xff\xfe utf8":          `bad \xff\xfe utf8`,
		"nul\x00":                    `nul\x00`,
	} {
		require.Equal(t, want, printable(in), "%q", in)
	}
}

func TestDropError_EscapesWhatStrangersWrote(t *testing.T) {
	e := &DropError{Reason: ReasonHandshakeFailed, Peer: "a\nb", Remote: "1.2.3.4:5\r", Err: errors.New(injection)}
	requirePrintable(t, e.Error())
	require.Contains(t, e.Error(), `FAKE LINE\x1b[2K`)
	require.ErrorIs(t, e, ErrHandshakeFailed)
	d := &DecodeError{Reason: ReasonMalformed, Detail: injection, Err: errors.New(injection)}
	requirePrintable(t, d.Error())
}

// lines collects what Config.Logf receives.
type lines struct {
	mu sync.Mutex
	ls []string
}

func (l *lines) logf(format string, args ...any) {
	l.mu.Lock()
	l.ls = append(l.ls, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ls...)
}

func TestLogf_EscapesWhatStrangersWrote(t *testing.T) {
	var got lines
	cfg := nodeConfig(certDir(t, "a"), "a")
	cfg.Logf = got.logf
	q, err := New(cfg)
	require.NoError(t, err)
	defer q.Close()
	q.logf("b", "connection with %s lost: %v", "b", errors.New(injection))
	require.Len(t, got.all(), 1)
	requirePrintable(t, got.all()[0])
	require.Contains(t, got.all()[0], `lost: x\n2030`)
}

// TestHostile_CloseReasonCannotForgeALine sends, with no certificate, an
// Initial packet that closes its connection at once with a reason phrase
// holding a line feed and a terminal escape: the handshake failure it
// causes is reported, escaped.
func TestHostile_CloseReasonCannotForgeALine(t *testing.T) {
	leakCheck(t)
	ns := cluster(t, []string{"a", "b"}, nil)
	a := ns["a"]
	strangerSend(t, a.Addr(), strangerInitial(t, quicpkt.CloseFrame(nil, 0x0a, injection)))
	var reported string
	eventually(t, func() bool {
		for _, e := range a.in.errors() {
			if strings.Contains(e.Error(), "FAKE LINE") {
				reported = e.Error()
				return true
			}
		}
		return false
	}, "the close was not reported: %v", a.in.errors())
	requirePrintable(t, reported)
	t.Logf("reported: %s", reported)
}
