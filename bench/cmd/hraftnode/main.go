// Command hraftnode runs one hashicorp/raft server (TCP transport,
// in-memory log, stable and snapshot stores, a no-op state machine) for the
// benchmark harness. hashicorp/raft is a full Raft; only its leadership is
// measured. Every start bootstraps the same configuration (the stores are
// in memory, so a restarted server has forgotten everything; the leader's
// log brings it back). It prints the same lines as cmd/graftnode:
//
//	READY t=<ms> id=<id> pid=<pid>
//	EVENT t=<ms> id=<id> kind=state from=<s> state=<s> term=<n> leader=<id or ->
//	EVENT t=<ms> id=<id> kind=leader state=<s> term=<n> leader=<id or ->
//	STEPDOWN t=<ms> id=<id> err=<error or ->
//
// from raft's observer channel (no polling). SIGUSR1 asks for a leadership
// transfer; SIGTERM or SIGINT transfers leadership if this server leads,
// shuts it down and exits.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/graftlib/graft/bench/internal/cli"
	"github.com/graftlib/graft/internal/monotime"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

var outMu sync.Mutex

func emit(kind, format string, args ...any) {
	outMu.Lock()
	fmt.Printf("%s t=%.3f %s\n", kind, monotime.Millis(), fmt.Sprintf(format, args...))
	outMu.Unlock()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fsm is a state machine that ignores everything.
type fsm struct{}

func (fsm) Apply(*raft.Log) any                 { return nil }
func (fsm) Snapshot() (raft.FSMSnapshot, error) { return snap{}, nil }
func (fsm) Restore(r io.ReadCloser) error       { return r.Close() }

type snap struct{}

func (snap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (snap) Release()                          {}

func main() {
	all := cli.Addrs{}
	id := flag.String("id", "", "server id (required)")
	listen := flag.String("listen", "", "TCP host:port to bind (required)")
	advertise := flag.String("advertise", "", "address the others use for this server (default: -listen)")
	flag.Var(all, "peer", "another server as ID=HOST:PORT (repeat)")
	hbt := flag.Int("heartbeat-timeout-ms", 1000, "Config.HeartbeatTimeout, ms")
	et := flag.Int("election-timeout-ms", 1000, "Config.ElectionTimeout, ms")
	lease := flag.Int("lease-ms", 500, "Config.LeaderLeaseTimeout, ms")
	flag.Parse()
	if *id == "" || *listen == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *advertise == "" {
		*advertise = *listen
	}
	all[*id] = *advertise

	logger := hclog.New(&hclog.LoggerOptions{Name: *id, Level: hclog.Error, Output: os.Stderr})
	adv, err := net.ResolveTCPAddr("tcp", *advertise)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hraftnode:", err)
		os.Exit(1)
	}
	trans, err := raft.NewTCPTransportWithLogger(*listen, adv, 3, 10*time.Second, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hraftnode:", err)
		os.Exit(1)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(*id)
	conf.Logger = logger
	conf.HeartbeatTimeout = time.Duration(*hbt) * time.Millisecond
	conf.ElectionTimeout = time.Duration(*et) * time.Millisecond
	conf.LeaderLeaseTimeout = time.Duration(*lease) * time.Millisecond

	store := raft.NewInmemStore()
	r, err := raft.NewRaft(conf, fsm{}, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hraftnode:", err)
		os.Exit(1)
	}
	obs := make(chan raft.Observation, 256)
	r.RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.RaftState, raft.LeaderObservation:
			return true
		}
		return false
	}))
	go func() {
		state := raft.Follower
		leader := ""
		for o := range obs {
			switch d := o.Data.(type) {
			case raft.RaftState:
				from := state
				state = d
				emit("EVENT", "id=%s kind=state from=%s state=%s term=%d leader=%s", *id,
					strings.ToLower(from.String()), strings.ToLower(d.String()), r.CurrentTerm(), dash(leader))
			case raft.LeaderObservation:
				leader = string(d.LeaderID)
				emit("EVENT", "id=%s kind=leader state=%s term=%d leader=%s", *id,
					strings.ToLower(state.String()), r.CurrentTerm(), dash(leader))
			}
		}
	}()
	var cfg raft.Configuration
	for sid, addr := range all {
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(sid), Address: raft.ServerAddress(addr)})
	}
	if err := r.BootstrapCluster(cfg).Error(); err != nil {
		fmt.Fprintln(os.Stderr, "hraftnode: bootstrap:", err)
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	emit("READY", "id=%s pid=%d", *id, os.Getpid())
	for s := range sig {
		if s == syscall.SIGUSR1 {
			e := "-"
			if err := r.LeadershipTransfer().Error(); err != nil {
				e = strings.ReplaceAll(err.Error(), " ", "_")
			}
			emit("STEPDOWN", "id=%s err=%s", *id, e)
			continue
		}
		break
	}
	if r.State() == raft.Leader {
		r.LeadershipTransfer().Error()
	}
	r.Shutdown().Error()
	emit("STATS", "id=%s", *id)
}
