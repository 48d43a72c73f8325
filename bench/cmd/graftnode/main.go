// Command graftnode runs one graft node (election + QUIC transport, the Go
// packages directly) for the benchmark harness, and prints its events in the
// format of examples/c/leader_worker.c, stamped with CLOCK_MONOTONIC:
//
//	READY t=<ms> id=<id> pid=<pid>
//	EVENT t=<ms> id=<id> kind=state from=<s> state=<s> term=<n> leader=<id or ->
//	EVENT t=<ms> id=<id> kind=leader state=<s> term=<n> leader=<id or ->
//	STEPDOWN t=<ms> id=<id> err=<error or ->
//	STATS t=<ms> id=<id> msgs_sent=<n> bytes_sent=<n> msgs_recv=<n> bytes_recv=<n>
//	RANK t=<ms> id=<id> term=<n> rank=<n> successor=<id or -> (with -rank-poll-ms)
//	CONTACT t=<ms> id=<id> term=<n> last=<ms> (on becoming candidate: when it last heard from a leader)
//
// Signals: SIGUSR1 asks the node to step down (leadership transfer) and keep
// running; SIGTERM or SIGINT closes it (a leader hands over first) and exits.
//
//	graftnode -id n1 -listen 127.0.0.1:7001 -peer n2=127.0.0.1:7002 -peer n3=... \
//	    -state /tmp/n1.graft -certs /tmp/certs [-heartbeat-ms 50 -election-min-ms 300 -election-max-ms 450]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/graftlib/graft/bench/internal/cli"
	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/internal/monotime"
	"github.com/graftlib/graft/transport"
)

var (
	outMu sync.Mutex
	state = election.StateFollower
	lead  = "-"
	// node is the running node, for the callbacks (nil until New returns).
	node atomic.Pointer[election.Node]
)

// emit prints one line: the kind, the CLOCK_MONOTONIC time, the rest.
func emit(kind, format string, args ...any) {
	outMu.Lock()
	fmt.Printf("%s t=%.3f %s\n", kind, monotime.Millis(), fmt.Sprintf(format, args...))
	outMu.Unlock()
}

func main() {
	ps := cli.Addrs{}
	id := flag.String("id", "", "node id (required)")
	listen := flag.String("listen", "", "UDP host:port to listen on (required)")
	statePath := flag.String("state", "", "state file (required)")
	certs := flag.String("certs", "", "folder with ca.pem, <id>.pem, <id>-key.pem (required)")
	cluster := flag.String("cluster", "graft-bench", "cluster name")
	hb := flag.Int("heartbeat-ms", 0, "heartbeat, ms (0: default)")
	emin := flag.Int("election-min-ms", 0, "minimum election timeout, ms (0: default)")
	emax := flag.Int("election-max-ms", 0, "maximum election timeout, ms (0: default)")
	verbose := flag.Bool("v", os.Getenv("GRAFTNODE_VERBOSE") != "", "print the node's log lines (debug level too) to stderr; default on when GRAFTNODE_VERBOSE is set")
	rankPoll := flag.Int("rank-poll-ms", 0, "print a RANK line whenever the node's rank or (as leader) successor changes, read from Stats this often, ms (0: never)")
	flag.Var(ps, "peer", "peer as ID=HOST:PORT (repeat)")
	flag.Parse()
	if *id == "" || *listen == "" || *statePath == "" || *certs == "" {
		flag.Usage()
		os.Exit(2)
	}

	tr, err := transport.New(transport.Config{
		Cluster: *cluster, ID: *id, Listen: *listen, Peers: ps,
		CertFile: *certs + "/" + *id + ".pem", KeyFile: *certs + "/" + *id + "-key.pem", CAFile: *certs + "/ca.pem",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "graftnode:", err)
		os.Exit(1)
	}
	cfg := election.DefaultConfig()
	cfg.Cluster, cfg.ID, cfg.StatePath = *cluster, *id, *statePath
	for p := range ps {
		cfg.Peers = append(cfg.Peers, p)
	}
	ms := func(v int, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return time.Duration(v) * time.Millisecond
	}
	cfg.Heartbeat = ms(*hb, cfg.Heartbeat)
	cfg.ElectionMin = ms(*emin, cfg.ElectionMin)
	cfg.ElectionMax = ms(*emax, cfg.ElectionMax)
	// Callbacks run one at a time, in order, on the node's callback goroutine.
	cfg.OnStateChange = func(from, to election.State, term uint64) {
		state = to
		emit("EVENT", "id=%s kind=state from=%s state=%s term=%d leader=%s", *id, name(from), name(to), term, lead)
		if to == election.StateCandidate {
			reportContact(*id, term)
		}
	}
	cfg.OnLeaderChange = func(leader string, term uint64) {
		lead = leader
		if lead == "" {
			lead = "-"
		}
		emit("EVENT", "id=%s kind=leader state=%s term=%d leader=%s", *id, name(state), term, lead)
	}
	cfg.OnError = func(err error) { fmt.Fprintf(os.Stderr, "graftnode %s: %v\n", *id, err) }
	if *verbose {
		cfg.OnLog = func(level election.LogLevel, msg string) {
			fmt.Fprintf(os.Stderr, "LOG t=%.3f %s %s\n", monotime.Millis(), level, msg)
		}
	}

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	n, err := election.New(cfg, tr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "graftnode:", err)
		os.Exit(1)
	}
	node.Store(n)
	emit("READY", "id=%s pid=%d", *id, os.Getpid())
	if *rankPoll > 0 {
		go reportRank(n, *id, time.Duration(*rankPoll)*time.Millisecond)
	}
	for s := range sig {
		if s == syscall.SIGUSR1 {
			err := n.StepDown()
			e := "-"
			if err != nil {
				e = strings.ReplaceAll(err.Error(), " ", "_")
			}
			emit("STEPDOWN", "id=%s err=%s", *id, e)
			continue
		}
		break
	}
	n.Close()
	st := tr.Stats()
	emit("STATS", "id=%s msgs_sent=%d bytes_sent=%d msgs_recv=%d bytes_recv=%d", *id, st.MessagesSent, st.BytesSent, st.MessagesReceived, st.BytesReceived)
}

func name(s election.State) string {
	switch s {
	case election.StateFollower:
		return "follower"
	case election.StateCandidate:
		return "candidate"
	case election.StateLeader:
		return "leader"
	case election.StateClosed:
		return "closed"
	}
	return "unknown"
}

// reportRank prints a RANK line each time the node's succession view
// changes, so that the harness can kill a leader together with its first
// successor. Stats has no callback for it; polling it costs a mutex copy,
// which is why it is off unless asked for (the idle-cost runs never ask).
func reportRank(n *election.Node, id string, every time.Duration) {
	type view struct {
		term      uint64
		rank      uint32
		successor string
	}
	var last view
	for range time.Tick(every) {
		s := n.Stats()
		if s.State == election.StateClosed {
			return
		}
		v := view{s.Term, s.Rank, s.Successor}
		if v == last {
			continue
		}
		last = v
		succ := v.successor
		if succ == "" {
			succ = "-"
		}
		emit("RANK", "id=%s term=%d rank=%d successor=%s", id, v.term, v.rank, succ)
	}
}

// reportContact prints a CONTACT line: when this node, now a candidate for
// term, last heard from a leader. A failover measured from there leaves
// out where in the heartbeat period the leader died (the harness's kill
// comes at a random point of it), which is the same for every row and
// only adds noise to a comparison of two rows.
func reportContact(id string, term uint64) {
	n := node.Load()
	if n == nil {
		return
	}
	// Callbacks run late, on their own goroutine: by the time this one runs
	// the node may have won (then SinceLeaderContact is 0) or moved on to a
	// later term. Only a node still a candidate for term knows when it last
	// heard from the old leader.
	s := n.Stats()
	if s.State != election.StateCandidate || s.Term != term || s.SinceLeaderContact < 0 {
		return
	}
	last := monotime.Millis() - float64(s.SinceLeaderContact)/float64(time.Millisecond)
	emit("CONTACT", "id=%s term=%d last=%.3f", id, term, last)
}
