package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/graftlib/graft/bench/internal/stat"
	"github.com/graftlib/graft/bench/internal/testbed"
)

// Goals of issue 16 at nats-io/graft's timings: graft's failover against
// nats-io/graft's, same run.
const (
	cmpMedianGoal = 0.80
	cmpP99Goal    = 0.60
	// cmpConf is the level of the bootstrap intervals printed beside
	// every ratio.
	cmpConf = 0.95
)

func compareTable(b *strings.Builder, r *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	c := r.Compare
	libs := []string{testbed.Graft, testbed.NatsGraft, testbed.HRaft}
	p("")
	p("### Comparison at nats-io/graft's timings (heartbeat %d ms, election %d–%d ms), 3 nodes, same harness, same run", c.Timing.Heartbeat, c.Timing.ElectionMin, c.Timing.ElectionMax)
	p("")
	p("graft: Heartbeat %d ms, ElectionMin %d ms, ElectionMax %d ms, over QUIC. nats-io/graft: its constants, through one nats-server process (TCP). hashicorp/raft v1.8.0, TCP transport, in-memory stores: %s", c.Timing.Heartbeat, c.Timing.ElectionMin, c.Timing.ElectionMax, c.HRaftSettings)
	p("")
	p("Durability differs: graft writes its term and vote to a file with fsync (file and folder; about 0.5 ms each on this machine's ext4) before it sends a vote request or a vote, so two such writes sit on its handover path; hashicorp/raft runs with in-memory stores here (raft.NewInmemStore, as its benchmarks usually do) and nats-io/graft writes its state file without fsync. _contested_ is not shown: hashicorp/raft enters the Candidate state for its pre-vote too.")
	p("")
	if c.Interleaved {
		p("The libraries' clusters ran side by side for the whole comparison, and their trials were interleaved: failover trial i of each library back to back (the order rotating, so that none always follows the same one), then the handovers the same way; the idle rows are the three libraries measured in one window.")
		p("")
	}
	p("Handover on close: graft's Close hands over; nats-io/graft has no handover, Close just stops (the others wait out an election timeout); hashicorp/raft: LeadershipTransfer, then Shutdown. Idle bytes: every payload byte at the relays (QUIC datagrams for graft; TCP stream bytes for the others, both hops through the nats-server for nats-io/graft), per node. Ratios are other / graft (lower is better for all rows).")
	p("")
	p("| metric | graft | nats-io/graft | hashicorp/raft | nats-io/graft ÷ graft | hashicorp/raft ÷ graft |")
	p("|---|---|---|---|---|---|")
	fo := map[string]FailoverResult{}
	for _, f := range c.Failover {
		fo[f.Lib] = f
	}
	row := func(name string, get func(lib string) (float64, bool), format string) {
		vals := map[string]float64{}
		cells := []string{}
		for _, l := range libs {
			v, okv := get(l)
			if !okv {
				vals[l] = math.NaN()
				cells = append(cells, "n/a")
				continue
			}
			vals[l] = v
			cells = append(cells, fmt.Sprintf(format, v))
		}
		p("| %s | %s | %s | %s | %s | %s |", name, cells[0], cells[1], cells[2], ratio(vals[libs[1]], vals[libs[0]]), ratio(vals[libs[2]], vals[libs[0]]))
	}
	fget := func(pick func(FailoverResult) float64) func(string) (float64, bool) {
		return func(l string) (float64, bool) {
			f, okf := fo[l]
			if !okf || f.Summary.N == 0 {
				return 0, false
			}
			return pick(f), true
		}
	}
	if len(c.Failover) > 0 {
		p("| failover trials | %s | %s | %s | | |", trialsOf(fo, libs[0]), trialsOf(fo, libs[1]), trialsOf(fo, libs[2]))
		row("failover median ms", fget(func(f FailoverResult) float64 { return f.Summary.Median }), "%.1f")
		row("failover p90 ms", fget(func(f FailoverResult) float64 { return f.Summary.P90 }), "%.1f")
		row("failover p99 ms", fget(func(f FailoverResult) float64 { return f.Summary.P99 }), "%.1f")
		row("failover max ms", fget(func(f FailoverResult) float64 { return f.Summary.Max }), "%.1f")
		row("failover median / EMin (500 ms)", fget(func(f FailoverResult) float64 { return f.InElectionMin.Median }), "%.2f")
		p("| failover unconverged | %s | %s | %s | | |", unconv(fo, libs[0]), unconv(fo, libs[1]), unconv(fo, libs[2]))
	}
	ho := map[string]HandoverResult{}
	for _, h := range c.Handover {
		ho[h.Lib+"/"+h.How] = h
	}
	hget := func(how string, pick func(HandoverResult) float64) func(string) (float64, bool) {
		return func(l string) (float64, bool) {
			h, okh := ho[l+"/"+how]
			if !okh || h.Unsupported || h.Summary.N == 0 {
				return 0, false
			}
			return pick(h), true
		}
	}
	if len(c.Handover) > 0 {
		row("step-down handover median ms", hget("step_down", func(h HandoverResult) float64 { return h.Summary.Median }), "%.2f")
		row("step-down handover p99 ms", hget("step_down", func(h HandoverResult) float64 { return h.Summary.P99 }), "%.2f")
		row("close handover median ms", hget("close", func(h HandoverResult) float64 { return h.Summary.Median }), "%.2f")
		row("close handover p99 ms", hget("close", func(h HandoverResult) float64 { return h.Summary.P99 }), "%.2f")
	}
	id := map[string]Idle{}
	for _, x := range c.Idle {
		id[x.Lib] = x
	}
	iget := func(pick func(Idle) float64) func(string) (float64, bool) {
		return func(l string) (float64, bool) {
			x, oki := id[l]
			if !oki {
				return 0, false
			}
			return pick(x), true
		}
	}
	if len(c.Idle) > 0 {
		row("idle CPU ms per node-second", iget(func(x Idle) float64 { return x.CPUMsPerNodeSec }), "%.2f")
		row("idle CPU incl. nats-server share", iget(func(x Idle) float64 { return x.CPUMsPerNodeSec + x.ServerCPUMsPerS/float64(x.Nodes) }), "%.2f")
		row("idle bytes/s per node", iget(func(x Idle) float64 { return x.BytesPerNodeSec }), "%.0f")
		row("VmRSS MiB per node", iget(func(x Idle) float64 { return meanKiB(x.RSSKiB) / 1024 }), "%.1f")
		row("first leader ms (1 cold start)", iget(func(x Idle) float64 { return x.FirstLeaderMs }), "%.0f")
	}
	compareGoals(b, c, fo, id)
}

// compareGoals renders graft's ratios to the other libraries with their
// bootstrap intervals, and issue 16's goals against nats-io/graft.
func compareGoals(b *strings.Builder, c Compare, fo map[string]FailoverResult, id map[string]Idle) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("")
	p("**graft ÷ the others** (lower is better), with %.0f %% percentile-bootstrap intervals (%d resamples of each library's samples, seed %d; bench/internal/stat). Failover: the trials above. Idle CPU: the window's %s slices, one sample per slice (graft's per-node CPU, against the other's per node plus, for nats-io/graft, its server's share per node). Goals (issue 16): median ≤ %.2f× and p99 ≤ %.2f× nats-io/graft's.",
		cmpConf*100, stat.BootstrapReps, stat.BootstrapSeed, cmpIdleSlice, cmpMedianGoal, cmpP99Goal)
	p("")
	p("| ratio | graft ÷ nats-io/graft | goal | | graft ÷ hashicorp/raft |")
	p("|---|---|---|---|---|")
	g := fo[testbed.Graft]
	ci := func(x stat.Interval) string {
		if math.IsNaN(x.Est) {
			return "–"
		}
		if math.IsNaN(x.Lo) {
			return fmt.Sprintf("%.2f×", x.Est)
		}
		return fmt.Sprintf("%.2f× [%.2f, %.2f]", x.Est, x.Lo, x.Hi)
	}
	fr := func(other string, f func([]float64) float64) stat.Interval {
		return stat.RatioCI(g.SamplesMs, fo[other].SamplesMs, f, cmpConf)
	}
	verdict := func(x stat.Interval, goal float64) string {
		if math.IsNaN(x.Est) {
			return "**not measured**"
		}
		v := ok(x.Est <= goal)
		switch {
		case x.Hi <= goal:
			v += " (whole interval)"
		case x.Lo > goal:
			v += " (whole interval above)"
		default:
			v += " (interval straddles the goal)"
		}
		return v
	}
	med, p99 := fr(testbed.NatsGraft, stat.Median), fr(testbed.NatsGraft, stat.P99)
	p("| failover median | %s | ≤ %.2f× | %s | %s |", ci(med), cmpMedianGoal, verdict(med, cmpMedianGoal), ci(fr(testbed.HRaft, stat.Median)))
	p("| failover p99 | %s | ≤ %.2f× | %s | %s |", ci(p99), cmpP99Goal, verdict(p99, cmpP99Goal), ci(fr(testbed.HRaft, stat.P99)))
	ir := func(other string, withServer bool) stat.Interval {
		x, y := id[testbed.Graft], id[other]
		ys := y.CPUSlices
		if withServer && len(y.ServerCPUSlices) == len(ys) {
			ys = make([]float64, len(y.CPUSlices))
			for i := range ys {
				ys[i] = y.CPUSlices[i] + y.ServerCPUSlices[i]/float64(y.Nodes)
			}
		}
		if len(x.CPUSlices) < 2 || len(ys) < 2 {
			// no slices (a run before them): the ratio without interval
			den := y.CPUMsPerNodeSec
			if withServer && y.Nodes > 0 {
				den += y.ServerCPUMsPerS / float64(y.Nodes)
			}
			if den == 0 {
				return stat.Interval{Est: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
			}
			return stat.Interval{Est: x.CPUMsPerNodeSec / den, Lo: math.NaN(), Hi: math.NaN()}
		}
		return stat.RatioCI(x.CPUSlices, ys, stat.Mean, cmpConf)
	}
	if len(id) > 0 {
		p("| idle CPU per node, nats-io/graft with its server's share | %s | (none) | | %s |", ci(ir(testbed.NatsGraft, true)), ci(ir(testbed.HRaft, false)))
		p("| idle CPU per node, nats-io/graft without its server | %s | (none) | | |", ci(ir(testbed.NatsGraft, false)))
	}
}

func trialsOf(fo map[string]FailoverResult, l string) string {
	if f, okf := fo[l]; okf {
		return fmt.Sprint(f.Trials)
	}
	return "n/a"
}

func unconv(fo map[string]FailoverResult, l string) string {
	if f, okf := fo[l]; okf {
		return fmt.Sprint(f.Unconverged + f.NotStable)
	}
	return "n/a"
}
