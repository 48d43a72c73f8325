package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/graftlib/graft/transport"
)

// version is graft's version: include/graft.h GRAFT_VERSION_* (make sets it
// with -ldflags -X; a test checks that this default matches).
var version = "0.1.0"

// certsUsage is the help of graft certs.
const certsUsage = `usage: graft certs [--cluster NAME] DIR ID...

Writes DIR/ca.pem (kept if present) and, for each ID, DIR/ID.pem and
DIR/ID-key.pem: development certificates only. With --cluster, each
certificate is bound to the cluster NAME (a URI SAN graft://NAME/ID):
nodes of another cluster refuse it, even with the same CA.`

// certsMain is `graft certs [--cluster NAME] DIR ID...`: the development
// certificates of `make certs` (transport.GenerateClusterCerts; an
// existing ca.pem is reused).
func certsMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graft certs", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cluster := fs.String("cluster", "", "bind the certificates to this cluster")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, certsUsage)
			return 0
		}
		fmt.Fprintf(stderr, "graft certs: %v (graft certs --help)\n", err)
		return 2
	}
	args = fs.Args()
	if len(args) < 2 {
		fmt.Fprintln(stderr, "graft certs: want DIR and at least one ID: graft certs [--cluster NAME] DIR ID...")
		return 2
	}
	if err := transport.GenerateClusterCerts(args[0], *cluster, args[1:]); err != nil {
		fmt.Fprintf(stderr, "graft certs: %v\n", err)
		return 1
	}
	bound := ""
	if *cluster != "" {
		bound = fmt.Sprintf(" bound to cluster %q", *cluster)
	}
	fmt.Fprintf(stdout, "graft certs: wrote %d certificates%s to %s\n", len(args)-1, bound, args[0])
	return 0
}
