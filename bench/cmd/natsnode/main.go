// Command natsnode runs one nats-io/graft node for the benchmark harness.
// nats-io/graft talks through a NATS server (see cmd/natsserver); its
// timings are constants (heartbeat 100 ms, election timeout 500-1000 ms).
// It prints the same lines as cmd/graftnode; READY carries the node's
// random id as alias=, which is what the others report as leader:
//
//	READY t=<ms> id=<id> pid=<pid> alias=<graft id>
//	EVENT t=<ms> id=<id> kind=state from=<s> state=<s> term=<n> leader=<alias or ->
//	EVENT t=<ms> id=<id> kind=leader state=<s> term=<n> leader=<alias or ->
//	STATS t=<ms> id=<id> bytes_sent=<n> bytes_recv=<n> msgs_sent=<n> msgs_recv=<n>
//
// nats-io/graft reports state changes to a handler but has no callback for
// a change of leader seen by a follower, so the leader is polled every
// -poll-ms (0: never; the idle-cost runs use 0, the poll would cost CPU).
// It has no step-down: SIGUSR1 prints STEPDOWN err=unsupported. SIGTERM or
// SIGINT closes the node (no handover exists) and exits.
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

	"github.com/graftlib/graft/internal/monotime"
	"github.com/nats-io/graft"
	"github.com/nats-io/nats.go"
)

var (
	outMu sync.Mutex
	node  atomic.Pointer[graft.Node]
	id    = flag.String("id", "", "node id, used in output only (required)")
)

func emit(kind, format string, args ...any) {
	outMu.Lock()
	fmt.Printf("%s t=%.3f %s\n", kind, monotime.Millis(), fmt.Sprintf(format, args...))
	outMu.Unlock()
}

func name(s graft.State) string { return strings.ToLower(s.String()) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// handler implements graft.Handler.
type handler struct{}

func (handler) CurrentState() []byte      { return nil }
func (handler) GrantVote(pos []byte) bool { return true }
func (handler) AsyncError(err error)      { fmt.Fprintf(os.Stderr, "natsnode %s: %v\n", *id, err) }
func (handler) StateChange(from, to graft.State) {
	var term uint64
	leader := ""
	if n := node.Load(); n != nil {
		term, leader = n.CurrentTerm(), n.Leader()
	}
	emit("EVENT", "id=%s kind=state from=%s state=%s term=%d leader=%s", *id, name(from), name(to), term, dash(leader))
}

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server URL")
	size := flag.Int("size", 3, "cluster size")
	cluster := flag.String("cluster", "graft-bench", "cluster name")
	logPath := flag.String("state", "", "graft's state file (required)")
	poll := flag.Int("poll-ms", 10, "poll the leader every this many ms (0: never)")
	flag.Parse()
	if *id == "" || *logPath == "" {
		flag.Usage()
		os.Exit(2)
	}
	opts := nats.GetDefaultOptions()
	opts.Url = *url
	opts.Name = *id
	nc, err := opts.Connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsnode:", err)
		os.Exit(1)
	}
	rpc, err := graft.NewNatsRpcFromConn(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsnode:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	n, err := graft.New(graft.ClusterInfo{Name: *cluster, Size: *size}, handler{}, rpc, *logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsnode:", err)
		os.Exit(1)
	}
	node.Store(n)
	emit("READY", "id=%s pid=%d alias=%s", *id, os.Getpid(), n.Id())
	if *poll > 0 {
		go func() {
			last := ""
			for range time.Tick(time.Duration(*poll) * time.Millisecond) {
				if l := n.Leader(); l != last {
					last = l
					emit("EVENT", "id=%s kind=leader state=%s term=%d leader=%s", *id, name(n.State()), n.CurrentTerm(), dash(l))
				}
			}
		}()
	}
	for s := range sig {
		if s == syscall.SIGUSR1 {
			emit("STEPDOWN", "id=%s err=unsupported", *id)
			continue
		}
		break
	}
	n.Close()
	st := nc.Stats()
	nc.Close()
	emit("STATS", "id=%s bytes_sent=%d bytes_recv=%d msgs_sent=%d msgs_recv=%d", *id, st.OutBytes, st.InBytes, st.OutMsgs, st.InMsgs)
}
