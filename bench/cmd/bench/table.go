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
	if len(r.Parts) > 1 {
		p("This run (`-only`) measured %s; the other sections are from earlier runs:", strings.Join(r.Parts[0].Sections, ", "))
		p("")
		for _, x := range r.Parts[1:] {
			p("- %s", x)
		}
		p("")
	}
	d := r.Default
	p("Default timings: heartbeat %d ms, election timeout %d–%d ms (EMin = %d ms).", d.Heartbeat, d.ElectionMin, d.ElectionMax, d.ElectionMin)
	if len(r.Failover) > 0 || len(r.FailoverPair) > 0 {
		failoverTable(&b, r)
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
