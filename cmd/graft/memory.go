package main

// Memory at rest. Issue 14 asks for graft run and its watchdog together
// to stay within 15 MiB resident at rest. Measured with 3 nodes at rest
// (distinct physical pages of the pair, /proc/PID/pagemap), they held
// 15.0-16.9 MiB after 30 s and 18.5-20.3 MiB after 270 s:
//
//   - the Go heap's floor: at the default GOGC=100 the heap grows to 4 MiB
//     before a collection, whatever the live heap (graft's is under 1 MiB,
//     the watchdog's about 0.2 MiB), and the runtime keeps what it grew to:
//     graft's anonymous memory went from 3.3 to 6.9 MiB within 270 s;
//   - the binary's pages: Go runs every package's init at start-up, and the
//     kernel maps the 64 KiB around each page touched (fault-around), so
//     graft kept 10.2 of its 11.4 MiB of code and read-only data mapped
//     (the watchdog 8.1), although at rest it runs about half of it;
//   - the watchdog's heap after stopping a run: its /proc walk every 2 ms
//     while the group dies left 3.7-4.0 MiB resident behind.
//
// With what follows: 12.2-13.9 MiB after 30 s, 14.1-15.3 MiB after 270 s
// (the largest a leader's pair: its watchdog's anonymous memory grows to
// 3.1-3.4 MiB while its child runs, against 2.3-2.5 MiB on a follower).

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// GOGC of graft and of its watchdog, unless the environment sets GOGC.
// The runtime's smallest heap goal is 4 MiB x GOGC/100, so these keep the
// heaps near 1 MiB and 0.4 MiB. graft makes about 50 KiB of garbage a
// second at rest (QUIC packets): a collection every few seconds to 30 s,
// about 1-2 ms of CPU each; the watchdog makes almost none.
const (
	gcPercent         = 25
	watchdogGCPercent = 10
)

// trimDelay is how long after start graft drops the mappings of its start-
// up code (trimBinary): by then it has loaded its certificates and made
// its first handshakes with its peers, code that runs again only when a
// peer restarts. Trimmed before that, that code came back: 8.4 MiB of the
// binary stayed mapped instead of 5.2-6.8 MiB.
const trimDelay = 10 * time.Second

// tuneGC sets the GC percent, unless GOGC is in the environment (the user's
// choice wins). It is set in code, not by passing GOGC down: the watchdog's
// environment is CMD's, and CMD may be a Go program.
func tuneGC(percent int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
}

// trimBinary drops this process's mappings of the pages of its own binary
// that are read-only (code and constant data), so that the pages mapped
// afterwards are those the process still runs: call it once start-up is
// over. The pages stay in the page cache; a page used again is mapped back
// on its first use (a minor fault, with its 64 KiB around it). Private
// writable mappings (the binary's data) are not touched: MADV_DONTNEED
// would throw away their changes.
func trimBinary() error {
	spans, err := binaryReadOnly()
	if err != nil {
		return err
	}
	for _, m := range spans {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return errno
		}
	}
	return nil
}

// span is one mapping: [start, end).
type span struct{ start, end uintptr }

// binaryReadOnly lists the read-only private mappings of this process's
// binary (its code and constant data), from /proc/self/maps.
func binaryReadOnly() ([]span, error) {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	var out []span
	for _, l := range strings.Split(string(maps), "\n") {
		// start-end perms offset dev inode path; the path may hold spaces
		// (and " (deleted)", as the link does, once the binary is replaced).
		f := strings.Fields(l)
		if len(f) < 6 || (f[1] != "r-xp" && f[1] != "r--p") || strings.Join(f[5:], " ") != self {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && end > start {
			out = append(out, span{uintptr(start), uintptr(end)})
		}
	}
	return out, nil
}
