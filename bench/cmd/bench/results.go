package main

import (
	"fmt"
	"log"
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
	Handover      []HandoverResult `json:"handover"`
	Disruption    []Disruption     `json:"disruption"`
	Idle          []Idle           `json:"idle"`
	FirstLeader   FirstLeader      `json:"first_leader"`
	Compare       Compare          `json:"compare"`
	API           []API            `json:"api"`
	Events        *Events          `json:"events,omitempty"`
	Run           *Run             `json:"run,omitempty"`
	Flood         *Flood           `json:"flood,omitempty"`
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
}

func summarize(xs []float64) stat.Summary { return stat.Summarize(xs) }

func summarizeFailover(f Failover) FailoverResult {
	r := FailoverResult{Failover: f, Summary: stat.Summarize(f.SamplesMs)}
	u := make([]float64, len(f.SamplesMs))
	for i, x := range f.SamplesMs {
		u[i] = x / f.ElectionMin
	}
	r.InElectionMin = stat.Summarize(u)
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
}

// compare runs failover, handover and idle cost for the three libraries at
// cmpTiming, 3 nodes each.
func compare(env *testbed.Env, res *Results) {
	mk := func(lib string, o testbed.Options) (*testbed.Bed, error) {
		switch lib {
		case testbed.NatsGraft:
			return env.NatsGraft(3, o)
		case testbed.HRaft:
			return env.HRaft(3, cmpTiming, o)
		}
		return env.Graft(3, cmpTiming, false, o)
	}
	for _, lib := range []string{testbed.Graft, testbed.NatsGraft, testbed.HRaft} {
		beds, err := startBeds(*bedsFlag, func() (*testbed.Bed, error) { return mk(lib, testbed.Options{}) })
		if err != nil {
			log.Printf("compare %s: %v", lib, err)
			continue
		}
		log.Printf("compare: %s failover, 3 nodes, %d trials over %d clusters", lib, *cmpTrials, len(beds))
		f := summarizeFailover(failover(beds, *cmpTrials))
		res.Compare.Failover = append(res.Compare.Failover, f)
		log.Printf("  %s", f.line())
		for _, how := range []string{"step_down", "close"} {
			var h HandoverResult
			if lib == testbed.NatsGraft && how == "step_down" {
				h = HandoverResult{Handover: Handover{Lib: lib, Nodes: 3, How: how, Unsupported: true}}
			} else {
				log.Printf("compare: %s handover (%s), %d trials", lib, how, *cmpHoTrials)
				h = summarizeHandover(handover(beds, how, *cmpHoTrials))
			}
			res.Compare.Handover = append(res.Compare.Handover, h)
			log.Printf("  %s", h.line())
		}
		closeBeds(beds)

		b, err := mk(lib, testbed.Options{Relay: true, Quiet: true})
		if err != nil {
			log.Printf("compare %s: %v", lib, err)
			continue
		}
		log.Printf("compare: %s idle cost, 3 nodes, %s", lib, *idleDur)
		r, err := idle(b, *idleDur)
		b.Close()
		if err != nil {
			log.Printf("  %v", err)
			continue
		}
		res.Compare.Idle = append(res.Compare.Idle, r)
		log.Printf("  %s", r.line())
	}
}
