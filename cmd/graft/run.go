package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

// runMain is `graft run`: it returns the exit status.
func runMain(args []string, stdout, stderr io.Writer) int {
	tuneGC(gcPercent)
	s, err := parseRun(args, os.Getenv, stdout)
	if err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	witnessOnly := len(s.Command) == 0 // settings.check allows it for a witness alone
	var path string
	if !witnessOnly {
		if path, err = exec.LookPath(s.Command[0]); err != nil {
			fmt.Fprintf(stderr, "graft run: command %s: %v\n", s.Command[0], err)
			return 2
		}
	}
	// graft is a subreaper too: if the watchdog dies, CMD's orphans come
	// here, and graft stops them before it exits.
	if err := becomeSubreaper(); err != nil {
		fmt.Fprintln(stderr, "graft run: PR_SET_CHILD_SUBREAPER:", err)
		return 1
	}
	sup := newSupervisor(s)
	tr, err := transport.New(transport.Config{
		Cluster: s.Cluster, ID: s.ID, Listen: s.Listen, Peers: peerMap(s.Peers),
		CertFile: s.Cert, KeyFile: s.Key, CAFile: s.CA,
		Logf: func(format string, args ...any) { logf(format, args...) },
	})
	if err != nil {
		fmt.Fprintf(stderr, "graft run: %v\n", err)
		return 1
	}
	sup.tr = tr
	sup.node, err = election.New(sup.electionConfig(), tr) // owns tr, also on failure
	if err != nil {
		fmt.Fprintf(stderr, "graft run: %v\n", err)
		return 1
	}
	if !witnessOnly {
		termLead, killMargin := leadTimes(s.ElectionMin)
		sup.wd, err = startWatchdog(s.ID, s.Grace, termLead, killMargin, path, s.Command)
		if err != nil {
			sup.node.Close()
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	if s.HTTP != "" {
		stopHTTP, err := serveHTTP(s.HTTP, sup)
		if err != nil {
			sup.node.Close()
			if sup.wd != nil {
				sup.wd.close()
			}
			fmt.Fprintf(stderr, "graft run: --http %s: %v\n", s.HTTP, err)
			return 1
		}
		defer stopHTTP()
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	time.AfterFunc(trimDelay, func() { _ = trimBinary() })
	if witnessOnly {
		// A witness never leads, so it has no command to run: it votes
		// and acknowledges until told to stop.
		sig := <-sigs
		logf("%s: stopping the witness", sig)
		sup.node.Close()
		return 0
	}
	return sup.loop(sigs)
}

// leadTimes gives the watchdog's margins before a lease deadline that was
// not renewed: SIGTERM a third of the lease before it (a healthy leader
// renews every heartbeat, at most a third of the lease, so this fires only
// after several renewals went missing), SIGKILL a tenth of the lease (at
// least 10 ms) before it, so that the group is gone by the deadline even
// when the watchdog wakes a few milliseconds late on a loaded machine.
func leadTimes(electionMin time.Duration) (termLead, killMargin time.Duration) {
	return electionMin / 3, max(electionMin/10, 10*time.Millisecond)
}

func peerMap(ps []peer) map[string]string {
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.ID] = p.Addr
	}
	return m
}

// logf writes one line of graft's own to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "graft: "+format+"\n", args...)
}

// electionConfig is the node's configuration from the settings.
func (sup *supervisor) electionConfig() election.Config {
	s := sup.s
	ec := election.DefaultConfig()
	ec.Cluster, ec.ID, ec.StatePath = s.Cluster, s.ID, s.State
	for _, p := range s.Peers {
		ec.Peers = append(ec.Peers, p.ID)
	}
	ec.Heartbeat, ec.ElectionMin, ec.ElectionMax = s.Heartbeat, s.ElectionMin, s.ElectionMax
	ec.Priority, ec.Witness, ec.SuccessionDelay = s.Priority, s.Priority == 0, s.SuccessionDelay
	ec.OnLease = func(held bool, l election.Lease) {
		sup.leases <- leaseEvent{held: held, term: l.Term, at: monoNow()}
	}
	ec.OnError = func(err error) { logf("error: %v", err) }
	ec.OnLog = func(_ election.LogLevel, msg string) { logf("%s", msg) }
	ec.LogLevel = election.LogInfo
	return ec
}
