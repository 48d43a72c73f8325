package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// statusMain is `graft status [--http ADDR] [--json]`: the view of a
// running `graft run` from its --http endpoint.
func statusMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graft status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("http", os.Getenv("GRAFT_HTTP"), "the --http ADDR of the graft run to ask (env GRAFT_HTTP)")
	asJSON := fs.Bool("json", false, "print the JSON of /status")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprintln(stdout, "usage: graft status [--http ADDR] [--json]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "graft status: %v\n", err)
		return 2
	}
	if *addr == "" {
		fmt.Fprintln(stderr, "graft status: --http is required (the ADDR given to graft run --http)")
		return 2
	}
	url := *addr
	if strings.HasPrefix(url, ":") {
		url = "127.0.0.1" + url
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(url + "/status")
	if err != nil {
		fmt.Fprintf(stderr, "graft status: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "graft status: %s: %s %v\n", url, resp.Status, err)
		return 1
	}
	if *asJSON {
		stdout.Write(body)
		return 0
	}
	var s status
	if err := json.Unmarshal(body, &s); err != nil {
		fmt.Fprintf(stderr, "graft status: %s: %v\n", url, err)
		return 1
	}
	fmt.Fprintf(stdout, "node %s of cluster %s: %s at term %d, leader %q\n", s.ID, s.Cluster, s.State, s.Term, s.Leader)
	if s.HoldsLease {
		fmt.Fprintf(stdout, "lease: held, %.1f ms left\n", s.LeaseRemainingMS)
	} else {
		fmt.Fprintln(stdout, "lease: not held")
	}
	c := s.Command
	if c.Running {
		fmt.Fprintf(stdout, "command: running, pid %d, term %d; %d starts, last status %d\n", c.PID, c.Term, c.Runs, c.LastStatus)
	} else {
		fmt.Fprintf(stdout, "command: not running; %d starts, last status %d\n", c.Runs, c.LastStatus)
	}
	fmt.Fprintf(stdout, "elections %d (won %d), leader changes %d, step-downs %d, transfers %d\n",
		s.Stats["elections_started"], s.Stats["elections_won"], s.Stats["leader_changes"], s.Stats["step_downs"], s.Stats["transfers"])
	fmt.Fprintln(stdout, successionLine(s))
	return 0
}

// successionLine is the status line of the node's succession settings and
// place.
func successionLine(s status) string {
	sc := s.Succession
	if sc.Witness {
		return "succession: witness (votes, never leads)"
	}
	place := "no rank"
	switch {
	case sc.Successor != "":
		place = "leads; first successor " + sc.Successor
	case sc.Rank > 0:
		place = fmt.Sprintf("successor of rank %d", sc.Rank)
	}
	return fmt.Sprintf("succession: priority %d, %s; %d priority handovers", sc.Priority, place, s.Stats["priority_takeovers"])
}
