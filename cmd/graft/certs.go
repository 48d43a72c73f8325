package main

import (
	"fmt"
	"io"

	"github.com/graftlib/graft/transport"
)

// version is graft's version: include/graft.h GRAFT_VERSION_* (make sets it
// with -ldflags -X; a test checks that this default matches).
var version = "0.1.0"

// certsMain is `graft certs DIR ID...`: the development certificates of
// `make certs` (transport.GenerateCerts; an existing ca.pem is reused).
func certsMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
		fmt.Fprintln(stdout, "usage: graft certs DIR ID...\n\nWrites DIR/ca.pem (kept if present) and, for each ID, DIR/ID.pem and DIR/ID-key.pem: development certificates only.")
		return 0
	}
	if len(args) < 2 {
		fmt.Fprintln(stderr, "graft certs: want DIR and at least one ID: graft certs DIR ID...")
		return 2
	}
	if err := transport.GenerateCerts(args[0], args[1:]); err != nil {
		fmt.Fprintf(stderr, "graft certs: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "graft certs: wrote %d certificates to %s\n", len(args)-1, args[0])
	return 0
}
