// Command graft runs any program only while this node holds the leadership
// lease of a graft cluster: `graft run [flags] -- CMD [ARGS...]`. See
// `graft help` and the README section "Any program, no code: graft run".
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

// errHelp is returned by a parser that printed --help.
var errHelp = flag.ErrHelp

const usage = `usage: graft COMMAND [ARGS...]

  graft run [flags] -- CMD [ARGS...]   run CMD only while this node holds the lease
  graft status [--http ADDR] [--json]  a running node's view, from its --http endpoint
  graft certs DIR ID...                write development certificates (ca.pem, ID.pem, ID-key.pem)
  graft version                        print the version

graft COMMAND --help describes each.
`

func main() { os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr)) }

// dispatch runs a subcommand and returns the exit status.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runMain(args[1:], stdout, stderr)
	case "status":
		return statusMain(args[1:], stdout, stderr)
	case "certs":
		return certsMain(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "graft %s\n", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	case "__watchdog":
		return watchdogMain(args[1:])
	}
	fmt.Fprintf(stderr, "graft: unknown command %q (graft help lists them)\n", args[0])
	return 2
}
