package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/graftlib/graft/bench/internal/stat"
	"github.com/graftlib/graft/bench/internal/testbed"
)

// Results is everything a run measured; it is written as results.json.
type Results struct {
	Date string `json:"date"`
	Host Host   `json:"host"`
	// Graft is the graft tree measured: `git describe --always --dirty`,
	// and the files changed against it outside bench/ and docs/bench/.
	Graft      string            `json:"graft_commit"`
	GraftDirty []string          `json:"graft_uncommitted_files,omitempty"`
	Flags      map[string]string `json:"flags"`
	RunSeconds float64           `json:"run_seconds"`
	Default    testbed.Timing    `json:"default_timing_ms"`
	Failover   []FailoverResult  `json:"failover"`
	// FailoverFresh: 3 nodes, the kill comes right after the previous
	// victim's restart (no settle time).
	FailoverFresh []FailoverResult `json:"failover_no_settle"`
	// FailoverPair: 5 and 7 nodes, the leader and its first successor
	// killed together (issue 16).
	FailoverPair []FailoverResult `json:"failover_pair,omitempty"`
	Handover     []HandoverResult `json:"handover"`
	Disruption   []Disruption     `json:"disruption"`
	Idle         []Idle           `json:"idle"`
	FirstLeader  FirstLeader      `json:"first_leader"`
	Compare      Compare          `json:"compare"`
	API          []API            `json:"api"`
	Events       *Events          `json:"events,omitempty"`
	Run          *Run             `json:"run,omitempty"`
	Flood        *Flood           `json:"flood,omitempty"`
	// Parts says which run measured which sections: the first is the
	// run that wrote the file, the others earlier runs whose sections it
	// did not measure (-only) and kept (merge.go).
	Parts []Part `json:"parts,omitempty"`
}

// Host describes the machine.
type Host struct {
	CPUs      int    `json:"cpus"`
	CPU       string `json:"cpu"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	// The 1-minute load average (/proc/loadavg) as the run began and
	// ended: other work on the machine shares its CPUs with the run.
	LoadStart float64 `json:"load_average_start"`
	LoadEnd   float64 `json:"load_average_end"`
}

// loadAvg reads the 1-minute load average; 0 when unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// FailoverResult is a Failover with its summaries.
type FailoverResult struct {
	Failover
	Summary       stat.Summary `json:"summary_ms"`
	InElectionMin stat.Summary `json:"summary_in_election_min"`
	// FromContact summarizes FromContactMs (empty when no node printed
	// CONTACT lines).
	FromContact stat.Summary `json:"summary_from_contact_ms"`
}

func summarize(xs []float64) stat.Summary { return stat.Summarize(xs) }

func summarizeFailover(f Failover) FailoverResult {
	r := FailoverResult{Failover: f, Summary: stat.Summarize(f.SamplesMs)}
	u := make([]float64, len(f.SamplesMs))
	for i, x := range f.SamplesMs {
		u[i] = x / f.ElectionMin
	}
	r.InElectionMin = stat.Summarize(u)
	r.FromContact = stat.Summarize(f.FromContactMs)
	return r
}

func (f FailoverResult) line() string {
	return fmt.Sprintf("%s %d nodes: median %.1f ms (%.2f EMin), p90 %.1f, p99 %.1f (%.2f EMin), max %.1f; %d unconverged, %d not stable, %d contested",
		f.Lib, f.Nodes, f.Summary.Median, f.InElectionMin.Median, f.Summary.P90, f.Summary.P99, f.InElectionMin.P99, f.Summary.Max, f.Unconverged, f.NotStable, f.Contested)
}

// HandoverResult is a Handover with its summary.
type HandoverResult struct {
	Handover
	Summary stat.Summary `json:"summary_ms"`
}

func summarizeHandover(h Handover) HandoverResult {
	return HandoverResult{Handover: h, Summary: stat.Summarize(h.SamplesMs)}
}

func (h HandoverResult) line() string {
	if h.Unsupported {
		return fmt.Sprintf("%s %s: not supported", h.Lib, h.How)
	}
	return fmt.Sprintf("%s %s: median %.2f ms, p99 %.2f ms, %d/%d converged", h.Lib, h.How, h.Summary.Median, h.Summary.P99, h.Summary.N, h.Trials)
}

func (r Idle) line() string {
	s := fmt.Sprintf("%s %d nodes: CPU %.2f ms per node-second, %.0f B/s per node, RSS %v KiB, first leader %.0f ms",
		r.Lib, r.Nodes, r.CPUMsPerNodeSec, r.BytesPerNodeSec, r.RSSKiB, r.FirstLeaderMs)
	if r.ServerCPUMsPerS > 0 {
		s += fmt.Sprintf(" (+ nats-server %.2f ms/s, %d KiB)", r.ServerCPUMsPerS, r.ServerRSSKiB)
	}
	return s
}

// FirstLeader is the time from starting three processes to a leader.
type FirstLeader struct {
	Lib       string       `json:"lib"`
	Nodes     int          `json:"nodes"`
	SamplesMs []float64    `json:"samples_ms"`
	Summary   stat.Summary `json:"summary_ms"`
}

// Compare holds the three libraries at nats-io/graft's timings.
type Compare struct {
	Timing        testbed.Timing   `json:"timing_ms"`
	HRaftSettings string           `json:"hashicorp_raft_settings"`
	Failover      []FailoverResult `json:"failover"`
	Handover      []HandoverResult `json:"handover"`
	Idle          []Idle           `json:"idle"`
	// Interleaved is set by runs that took the libraries' trials in turn
	// (trial i of each back to back) and measured their idle cost in one
	// window; earlier runs took one library after the other.
	Interleaved bool `json:"interleaved,omitempty"`
}
