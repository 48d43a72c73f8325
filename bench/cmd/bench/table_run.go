package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/graftlib/graft/bench/internal/stat"
)

// Goals of issue 14.
const (
	runStartGoalMs   = 5.0  // lease acquired to child started, p50
	runRSSGoalMiB    = 15.0 // graft and its watchdog at rest
	runCPUGoalFactor = 1.2  // idle CPU against a library node
)

// low returns the p-th percentile from the low end (the margin that
// (100-p) % of the trials had at least).
func low(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return stat.Percentile(s, p)
}

// runTable renders the run section.
func runTable(b *strings.Builder, r *Run) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("")
	p("### `graft run`: a program's lifetime bound to the lease (issue 14)")
	p("")
	p("| measure | figure | goal | |")
	p("|---|---|---|---|")
	if d := stat.Summarize(r.StartDelayMs); d.N > 0 {
		p("| lease acquired → child started (build/graft, a C child's first instruction; %d leases, SIGTERM handovers) | p50 %.2f ms, p99 %.2f ms, max %.2f ms | p50 ≤ %.0f ms | %s |",
			d.N, d.Median, d.P99, d.Max, runStartGoalMs, ok(d.Median <= runStartGoalMs))
	}
	if t := r.Trials; t != nil {
		total, byDeadline := 0, 0
		var all []float64
		for _, k := range t.Kinds {
			g := t.Gone[k]
			total += len(g) + t.Unmatched[k]
			for _, x := range g {
				if x > 0 {
					byDeadline++
				}
			}
			all = append(all, g...)
			if len(g) == 0 {
				continue
			}
			s := stat.Summarize(g)
			ll := stat.Summarize(t.LastLine[k])
			p("| leading graft %s → child group gone (%d trials) | before the deadline by p50 %.1f ms; 99 %% of trials by ≥ %.1f ms; min %.1f ms (child's last line: p50 %.1f, min %.1f ms) | by the deadline | %s |",
				kindName(k), s.N, s.Median, low(g, 1), s.Min, ll.Median, ll.Min, ok(s.Min > 0 && t.Unmatched[k] == 0))
		}
		if len(all) > 0 {
			s := stat.Summarize(all)
			p("| every fault above | group gone by the deadline in %d of %d trials; margin p50 %.1f ms, p99 (from the low end) %.1f ms, min %.1f ms | 100 %% | %s |",
				byDeadline, total, s.Median, low(all, 1), s.Min, ok(byDeadline == total && r.TrialsOK))
		}
		if d := stat.Summarize(t.StartDelay); d.N > 0 {
			p("| lease acquired → child's first line, in the trials (the child is the Go test binary, its start-up included; %d leases) | p50 %.1f ms, p99 %.1f ms | (for reference) | |", d.N, d.Median, d.P99)
		}
	}
	if r.Trials == nil || !r.TrialsOK {
		note := r.TrialsNote
		if note == "" {
			note = "not run"
		}
		p("| leader-fault trials (make graft-trials) | **failed**: %s | | **missed** |", note)
	}
	if len(r.Rest) > 0 {
		var worstPair, worstSum float64
		var cpu float64
		for _, x := range r.Rest {
			worstPair = max(worstPair, kib(x.PairKiB))
			worstSum = max(worstSum, kib(x.GraftRSS+x.WdRSS))
			cpu += x.GraftCPU + x.WdCPU
		}
		cpu /= float64(len(r.Rest))
		for _, x := range r.Rest {
			role := "follower"
			if x.Leads {
				role = "leader, its child running"
			}
			p("| at rest, %s (%s): VmRSS graft + watchdog | %.1f + %.1f = %.1f MiB; resident for the pair, shared pages once: %.1f MiB | | |",
				x.ID, role, kib(x.GraftRSS), kib(x.WdRSS), kib(x.GraftRSS+x.WdRSS), kib(x.PairKiB))
		}
		pairNote := ok(worstPair > 0 && worstPair <= runRSSGoalMiB)
		if worstPair == 0 {
			pairNote = "not measured (page frames need root)"
		}
		p("| at rest, largest of the 3 nodes | resident for the pair %.1f MiB (VmRSS added: %.1f MiB) | ≤ %.0f MiB | %s by the pair's resident pages; %s by VmRSS added |",
			worstPair, worstSum, runRSSGoalMiB, pairNote, ok(worstSum <= runRSSGoalMiB))
		lib := r.Lib.CPUMsPerNodeSec
		p("| idle CPU per node, graft + watchdog, over %.0f s | %.2f ms/s; library node (graftnode) %.2f ms/s: %s | ≤ %.1f× | %s |",
			r.RestSeconds, cpu, lib, ratio(cpu, lib), runCPUGoalFactor, ok(lib > 0 && cpu <= runCPUGoalFactor*lib))
	}
	if r.Err != "" {
		p("")
		p("**The released-binary part did not finish**: %s", r.Err)
	}
	p("")
	p("The fault rows are cmd/graft's TestRun_Trials (`make graft-trials`), run by this harness: three `graft run` processes (the test binary doubles as graft) with `--grace 100ms` and a child that ignores SIGTERM, so every stop other than a clean exit ends in SIGKILL; the leading graft is in turn stopped (SIGSTOP), killed (SIGKILL), terminated (SIGTERM: it stops the child and hands over) and, as root, cut off from its peers by iptables. The margin is the lease deadline minus the instant the watchdog saw the child's whole group gone (in parentheses: minus the child's last line, written every 2 ms). The rest rows run build/graft itself: VmRSS counts the pages of the one binary that graft and its watchdog both run in each process; _resident for the pair_ counts every physical page once (/proc/PID/pagemap). CPU from /proc/PID/task/*/schedstat over one window, the library nodes (bench/cmd/graftnode, 3 of them, default timings) running beside the `graft run` processes and measured over the same window, so that both see the same load from the rest of the machine.")
}

func kindName(k string) string {
	if k == "isolated" {
		return "cut off from its peers (iptables)"
	}
	return k
}
