package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/graftlib/graft/bench/internal/testbed"
)

func ok(b bool) string {
	if b {
		return "met"
	}
	return "**missed**"
}

func f1(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.1f", x)
}

func ratio(x, base float64) string {
	if base == 0 || math.IsNaN(x) || math.IsNaN(base) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x/base)
}

// table renders the results as Markdown.
func table(r *Results, charts []string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("## graft benchmarks")
	p("")
	p("Run %s on %d CPUs (%s), Linux %s, %s; %.0f s. Every node is a separate process on loopback; times are host CLOCK_MONOTONIC (the harness reads it just before it signals a node, the node stamps its events with it). Raw figures: `docs/bench/results.json`. Command: `make bench`.",
		r.Date, r.Host.CPUs, r.Host.CPU, r.Host.Kernel, r.Host.GoVersion, r.RunSeconds)
	p("")
	if r.Host.LoadStart > 0 || r.Host.LoadEnd > 0 {
		p("Load average (1 min) %.1f as the run began, %.1f as it ended, on %d CPUs: other work on the machine ran beside it, and the latencies, their tails most, include time the processes measured spent waiting for a CPU.", r.Host.LoadStart, r.Host.LoadEnd, r.Host.CPUs)
		p("")
	}
	p("graft measured: %s%s.", r.Graft, dirtyNote(r.GraftDirty))
	p("")
	d := r.Default
	p("Default timings: heartbeat %d ms, election timeout %d–%d ms (EMin = %d ms).", d.Heartbeat, d.ElectionMin, d.ElectionMax, d.ElectionMin)
	if len(r.Failover) > 0 {
		p("")
		p("### Failover after SIGKILL of the leader (graft, QUIC, default timings)")
		p("")
		p("From the kill to another node reporting leadership; the killed node is restarted and the cluster is stable again before the next trial. Target: median ≤ 1.2 EMin, p99 ≤ 1.6 EMin, none unconverged.")
		p("")
		p("| nodes | trials | median ms | p90 ms | p99 ms | max ms | median / EMin | p99 / EMin | max / EMin | unconverged | contested | target |")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, f := range r.Failover {
			met := f.InElectionMin.Median <= 1.2 && f.InElectionMin.P99 <= 1.6 && f.Unconverged == 0 && f.NotStable == 0 && f.Summary.N > 0
			p("| %d | %d | %s | %s | %s | %s | %.2f | %.2f | %.2f | %d | %d | %s |", f.Nodes, f.Trials, f1(f.Summary.Median), f1(f.Summary.P90), f1(f.Summary.P99), f1(f.Summary.Max),
				f.InElectionMin.Median, f.InElectionMin.P99, f.InElectionMin.Max, f.Unconverged+f.NotStable, f.Contested, ok(met))
		}
		for _, f := range r.FailoverFresh {
			p("| %d, no settle time (kill ~0.25 s after a peer's restart) | %d | %s | %s | %s | %s | %.2f | %.2f | %.2f | %d | %d | (not a target row) |", f.Nodes, f.Trials, f1(f.Summary.Median), f1(f.Summary.P90), f1(f.Summary.P99), f1(f.Summary.Max),
				f.InElectionMin.Median, f.InElectionMin.P99, f.InElectionMin.Max, f.Unconverged+f.NotStable, f.Contested)
		}
		p("")
		p("The trials rotate over %s identical clusters; on each, the next kill comes at least %s after the previous victim was restarted (the settle time, longer than graft's 3 s QUIC idle timeout: by then every peer has dropped its old connection to the killed process and dialled the new one). The last row has no settle time: the kill comes about 0.25 s after the previous victim's restart, while a follower that has sent nothing to it may still hold its connection to the dead process. Without the knock (transport/conn.go: a restarted node knocks, so its peers redial at once) such a follower kept that connection until the 3 s idle timeout (QUIC keep-alive PINGs are too small to draw a stateless reset), lost its first pre-vote to the restarted peer and retried after [25, 100] ms: this row was 1.30–1.33 EMin median then (two earlier runs), against 1.12 with the settle time.", r.Flags["beds"], r.Flags["settle"])
		p("")
		p("_contested_: trials in which more than one node became candidate before the new leader won (a split or lost vote).")
	}
	if len(r.Handover) > 0 {
		p("")
		p("### Handover (graft, 3 nodes, default timings)")
		p("")
		p("From the signal to another node reporting leadership. step_down: SIGUSR1, the node calls StepDown and keeps running. close: SIGTERM, the node calls Close (which hands over first) and exits. Target: median < 5 ms.")
		p("")
		p("| how | trials | median ms | p99 ms | max ms | unconverged | target |")
		p("|---|---|---|---|---|---|---|")
		for _, h := range r.Handover {
			p("| %s | %d | %.2f | %.2f | %.2f | %d | %s |", h.How, h.Trials, h.Summary.Median, h.Summary.P99, h.Summary.Max, h.Unconverged, ok(h.Summary.Median < 5 && h.Summary.N > 0))
		}
	}
	if len(r.Disruption) > 0 {
		p("")
		p("### Disruption by a node returning from a partition (graft, 3 nodes, default timings)")
		p("")
		p("A follower is cut off by the userspace UDP relays that carry every link (all its datagrams dropped, both ways: a real partition; the node keeps running and keeps trying to campaign, unlike under SIGSTOP), then healed; the cluster is watched for %.0f ms more. Target: zero leader changes.", r.Disruption[0].ObserveMs)
		p("")
		p("| partition | trials | leader changes | trials where the term moved | target |")
		p("|---|---|---|---|---|")
		for _, x := range r.Disruption {
			p("| %.1f s | %d | %d | %d | %s |", x.PartitionMs/1e3, x.Trials, x.LeaderChanges, x.TermChanges, ok(x.LeaderChanges == 0 && x.NotStable == 0))
		}
	}
	if len(r.Idle) > 0 {
		p("")
		p("### Idle cost (default timings)")
		p("")
		p("CPU: time on CPU over the window, per node and second, summed over the process's threads from /proc/<pid>/task/*/schedstat (ns; utime+stime from /proc/<pid>/stat counts 10 ms ticks, too coarse for a few ms per second: it is in results.json as stat_cpu_ms_per_node_second). The leader costs more than a follower (per node in results.json). Bytes: every payload byte (UDP datagrams of QUIC) counted at the relays the links run through, divided by the nodes: what each node sends. RSS: VmRSS of each node process.")
		p("")
		p("| program | nodes | window s | CPU ms per node-second | bytes/s per node | VmRSS MiB (mean) |")
		p("|---|---|---|---|---|---|")
		for _, x := range r.Idle {
			p("| %s | %d | %.1f | %.2f | %.0f | %.1f |", x.Lib, x.Nodes, x.Seconds, x.CPUMsPerNodeSec, x.BytesPerNodeSec, meanKiB(x.RSSKiB)/1024)
		}
	}
	if r.FirstLeader.Summary.N > 0 {
		s := r.FirstLeader.Summary
		p("")
		p("### Time to the first leader (graft, 3 nodes, fresh state)")
		p("")
		p("From starting the first of three processes to a node reporting leadership: median %.0f ms, max %.0f ms over %d cold starts (process start, QUIC handshakes and one election timeout).", s.Median, s.Max, s.N)
	}
	p("")
	p("### Memory (one node per process, 3-node cluster, idle)")
	p("")
	p("| process | VmRSS MiB |")
	p("|---|---|")
	for _, x := range append(append([]Idle(nil), r.Idle...), r.Compare.Idle...) {
		if x.Nodes == 3 {
			timing := "default timings"
			if x.Heartbeat > 0 {
				timing = fmt.Sprintf("hb %d ms", x.Heartbeat)
			}
			p("| %s node (%s), %s | %.1f |", x.Lib, progName(x.Lib), timing, meanKiB(x.RSSKiB)/1024)
			if x.ServerRSSKiB > 0 {
				p("| nats-server (needed by nats-io/graft) | %.1f |", float64(x.ServerRSSKiB)/1024)
			}
		}
	}
	if r.Events != nil {
		eventsTable(&b, r.Events)
	}
	if r.Run != nil {
		runTable(&b, r.Run)
	}
	if r.Flood != nil {
		floodTable(&b, r.Flood)
	}
	p("")
	p("### API cost (the bindings' own benchmarks, run by this harness)")
	p("")
	p("| language | state query | callback latency | source |")
	p("|---|---|---|---|")
	if len(r.API) == 0 {
		p("| C, Python, Rust | not measured | not measured | the api section was not run |")
	}
	for _, a := range r.API {
		switch {
		case a.Ran && a.OK:
			q, c := apiFigures(a.Lang, a.Output)
			if q == "" {
				q = "see output below"
			}
			if c == "" {
				c = "see output below"
			}
			p("| %s | %s | %s | `make %s` |", a.Lang, q, c, a.Target)
		case a.Ran:
			p("| %s | not measured | not measured | %s |", a.Lang, a.Note)
		default:
			p("| %s | not measured | not measured | %s |", a.Lang, a.Note)
		}
	}
	for _, a := range r.API {
		if a.Ran {
			p("")
			p("`make %s`:", a.Target)
			p("```")
			p("%s", a.Output)
			p("```")
		}
	}
	if len(r.Compare.Failover) > 0 || len(r.Compare.Idle) > 0 {
		compareTable(&b, r)
	}
	if len(charts) > 0 {
		p("")
		p("### Charts")
		p("")
		for _, c := range charts {
			p("![%s](%s)", c, c)
		}
	}
	return b.String()
}

func dirtyNote(files []string) string {
	if len(files) == 0 {
		return ""
	}
	return " (working tree, with uncommitted changes by others in " + strings.Join(files, ", ") + ")"
}

func progName(lib string) string {
	switch lib {
	case testbed.Graft:
		return "Go, bench/cmd/graftnode"
	case testbed.GraftC:
		return "C, build/leader_worker + libgraft.so"
	case testbed.NatsGraft:
		return "Go, bench/cmd/natsnode"
	case testbed.HRaft:
		return "Go, bench/cmd/hraftnode"
	}
	return lib
}

func meanKiB(xs []int) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}

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
