package transport

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// printable returns s with every rune that is not printable replaced by
// its Go escape: control characters (a line feed "\n", a terminal escape
// "\x1b"), Unicode format characters (a bidirectional override "\u202e")
// and bytes that are not UTF-8 ("\xff"). Strings that strangers choose
// reach error reports and log lines: the reason phrase of a
// CONNECTION_CLOSE, names in a certificate, text inside a TLS or QUIC
// error. Unescaped, they could forge log lines or hide them (issue 18).
// Every error text and log line of the transport passes through here
// (DropError.Error, DecodeError.Error, QUIC.logf). Printable text,
// including quotes and backslashes, is kept as it is.
func printable(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r == utf8.RuneError || !strconv.IsPrint(r) })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for s = s[i:]; s != ""; {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case strconv.IsPrint(r):
			b.WriteString(s[:n])
		default:
			q := strconv.QuoteRuneToASCII(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[n:]
	}
	return b.String()
}
