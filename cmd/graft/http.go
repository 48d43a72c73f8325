package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// status is the JSON of /status and `graft status --json`.
type status struct {
	ID               string            `json:"id"`
	Cluster          string            `json:"cluster"`
	State            string            `json:"state"`
	Term             uint64            `json:"term"`
	Leader           string            `json:"leader"`
	HoldsLease       bool              `json:"holds_lease"`
	LeaseRemainingMS float64           `json:"lease_remaining_ms"`
	Succession       succession        `json:"succession"`
	Command          commandStatus     `json:"command"`
	Stats            map[string]uint64 `json:"stats"`
	Dropped          map[string]uint64 `json:"dropped"`
}

// succession is this node's place in issue 16's succession: its own
// priority (0: a witness), the rank its leader gave it (0: none known, or
// it leads), and, on a leader, the follower it ranks first.
type succession struct {
	Priority  uint32 `json:"priority"`
	Witness   bool   `json:"witness"`
	Rank      uint32 `json:"rank"`
	Successor string `json:"successor"`
}

// commandStatus is the state of CMD.
type commandStatus struct {
	Running      bool    `json:"running"`
	PID          int     `json:"pid,omitempty"`
	Term         uint64  `json:"term,omitempty"`
	Runs         uint64  `json:"runs"`
	LastStatus   int     `json:"last_status"`
	StartDelayMS float64 `json:"start_delay_ms"`
}

// snapshot is the node's and the command's state now.
func (sup *supervisor) snapshot() status {
	n := sup.node
	st := n.Stats()
	s := status{ID: sup.s.ID, Cluster: sup.s.Cluster, State: st.State.String(), Term: st.Term, Leader: st.Leader,
		Stats: map[string]uint64{
			"elections_started": st.ElectionsStarted, "elections_won": st.ElectionsWon,
			"leader_changes": st.LeaderChanges, "step_downs": st.StepDowns, "transfers": st.Transfers,
			"storage_errors": st.StorageErrors, "priority_takeovers": st.PriorityTakeovers,
		}, Dropped: drops(sup.tr.Stats().Dropped),
		Succession: succession{Priority: sup.s.Priority, Witness: sup.s.Priority == 0, Rank: st.Rank, Successor: st.Successor}}
	if _, dl, ok := n.Lease(); ok {
		s.HoldsLease = true
		s.LeaseRemainingMS = float64(dl-election.SystemClock().Now()) / 1e6
	}
	sup.mu.Lock()
	s.Command = commandStatus{Running: sup.running, PID: sup.runPID, Runs: sup.runs, LastStatus: sup.lastStatus,
		StartDelayMS: float64(sup.startDelay) / 1e6}
	if sup.running {
		s.Command.Term = sup.runTerm
	}
	sup.mu.Unlock()
	return s
}

// drops are the transport's drop counters by reason.
func drops(d transport.DropStats) map[string]uint64 {
	return map[string]uint64{
		"malformed": d.Malformed, "wrong_cluster": d.WrongCluster, "bad_version": d.BadVersion,
		"oversized": d.Oversized, "spoofed_sender": d.SpoofedSender, "unknown_peer": d.UnknownPeer,
		"handshake_failed": d.HandshakeFailed, "queue_full": d.QueueFull, "invalid_packet": d.InvalidPacket,
		"duplicate_peer": d.DuplicatePeer,
	}
}

// serveHTTP serves /healthz, /leader, /status and /metrics on addr until
// the returned function is called.
func serveHTTP(addr string, sup *supervisor) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/leader", func(w http.ResponseWriter, _ *http.Request) {
		if sup.node.IsLeader() {
			w.Write([]byte("leader\n"))
			return
		}
		http.Error(w, "not leader", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sup.snapshot())
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{sup: sup})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
