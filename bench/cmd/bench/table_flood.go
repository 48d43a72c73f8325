package main

import (
	"fmt"
	"strings"
)

// floodAsFiled is what issue 18 recorded before the fix, per mode, as it was
// filed (in one process or with other dialer counts: see the note).
var floodAsFiled = map[string]string{
	"garbage": "p99 59 ms, max 241 ms, 13/249 lost; RSS 14 → 379 MB (+23,530 goroutines)",
	"hello":   "p50 393 ms, p99 1.05 s, 67/226 lost",
	"chain":   "p50 62 ms, p99 146 ms (4 dialers); p50 283 ms, p99 687 ms, 4/142 lost (12 dialers)",
}

// Goals of issue 18 under each flood.
const (
	floodHbP99Goal   = 20.0 // ms
	floodRSSGoalMiB  = 64.0
	floodBackTolFrac = 0.10 // "back to baseline": within 10 % of the RSS at rest before the first flood
)

// floodTable renders the flood section.
func floodTable(b *strings.Builder, f *Flood) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	// Runs before the settle (results.json without it) read the baseline
	// 1 s after the election.
	baseline := "Baseline: the leader 1 s after the election, before the first flood."
	if f.Settle > 0 {
		baseline = fmt.Sprintf("Baseline: the leader at rest before the first flood, once it had completed %d garbage collections (at most %.0f s after the election): a leader's RSS grows for its first minute or two, flooded or not (its heap fills to the first collection's goal, the first collections allocate the runtime's metadata), so a baseline read 1 s after the election, as until issue 18's last fix, is one no leader is back to.", floodSettleGCs, f.Settle)
	}
	p("")
	p("### Under a flood from a stranger with no certificate (issue 18)")
	p("")
	p("Three graft nodes as processes on loopback (transport/internal/testnode, %s); the flooder of `make flood` (transport/internal/flooder) floods the leader's UDP port at %s for %d s per mode, one mode after the other. Heartbeat delay: at the leader, how late each follower's answer came after the previous one, less the heartbeat interval (a lost answer counts as an interval late), over the flood. UDP drops: datagrams the kernel discarded at the leader's port, a receive buffer full (/proc/net/udp), the peers' among them unless the peers have a socket of their own (docs/transport.md, \"Floods\"; in brackets: at that socket): each lost answer counts as an interval (50 ms) late. RSS: the leader's VmRSS sampled every 50 ms; _after_ is read %.0f s after the flood ended. %s Go runtime metadata: runtime/metrics' /memory/classes/metadata/ at the reading after (growth over the baseline), memory the runtime never returns to the OS. Goals: no leader or term change, heartbeat p99 ≤ %.0f ms, RSS growth ≤ %.0f MiB, back to baseline (here: within %.0f %%) %.0f s after.",
		f.Timing, rateName(f.Rate), f.Secs, f.AfterSec, baseline, floodHbP99Goal, floodRSSGoalMiB, floodBackTolFrac*100, f.AfterSec)
	if f.Err != "" {
		p("")
		p("**The section did not run**: %s", f.Err)
		return
	}
	floodRows(b, f.After, true)
	if f.Before != nil {
		p("")
		p("Before the fix, in the same run: the same windows with this tree's testnode built on the graft code of %s, the commit before issue 18's first fix (a git worktree), and this tree's flooder. Once leadership moved, the later rows are still read at the process that led first (a follower by then: its figures are the new leader's heartbeats as it received them), and count only changes made during their own window.", f.Before.Tree)
		floodRows(b, *f.Before, false)
	}
	p("")
	p("As issue 18 was filed: garbage Initials (two nodes in one process, 5,000 Initials/s) %s; ClientHello Initials at full speed %s; junk chains %s; a 3-process cluster lost its leader within 10 s of Initials and the leader's RSS grew by 143 MiB. One run on a 2-core machine shared with the other processes of the run.",
		floodAsFiled["garbage"], floodAsFiled["hello"], floodAsFiled["chain"])
}

// floodRows renders one tree's windows, with the goals when goals is set.
func floodRows(b *strings.Builder, r FloodRun, goals bool) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("")
	if r.Err != "" {
		p("**Not all windows ran** (%s): %s", r.Tree, r.Err)
		p("")
	}
	if len(r.Modes) == 0 && r.Base.HbN == 0 {
		return
	}
	if r.SettleSecs > 0 {
		p("Baseline %.0f s after the election, %d collections done.", r.SettleSecs, r.GCCycles)
		p("")
	}
	p("| %s: flood | sent | heartbeat p50 ms | p99 ms | max ms | answers | leader CPU | UDP drops at the leader (peers' socket) | RSS growth MiB (peak) | RSS after MiB | Go runtime metadata after MiB | leader / term changes | goals |", r.Tree)
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	base := r.Base.RSSBeforeKiB
	for _, w := range append([]FloodWindow{r.Base}, r.Modes...) {
		growth := kib(w.RSSPeakKiB - base)
		goal := "(reference)"
		if w.Mode != "" && goals {
			var miss []string
			if w.LeaderChanges+w.TermChanges > 0 {
				miss = append(miss, "leader moved")
			}
			if w.HbP99 > floodHbP99Goal {
				miss = append(miss, fmt.Sprintf("p99 > %.0f ms", floodHbP99Goal))
			}
			if growth > floodRSSGoalMiB {
				miss = append(miss, fmt.Sprintf("growth > %.0f MiB", floodRSSGoalMiB))
			}
			if float64(w.RSSAfterKiB) > float64(base)*(1+floodBackTolFrac) {
				miss = append(miss, "not back to baseline")
			}
			goal = "met"
			if len(miss) > 0 {
				goal = "**missed**: " + strings.Join(miss, ", ")
			}
		} else if w.Mode != "" {
			goal = "(before the fix)"
		}
		sent := "–"
		if w.Sent > 0 {
			sent = fmt.Sprintf("%d in %.1f s", w.Sent, w.Secs)
		}
		meta := "–"
		if w.MetaAfterKiB > 0 {
			meta = fmt.Sprintf("%.1f (%+.1f)", kib(w.MetaAfterKiB), kib(w.MetaAfterKiB-r.Base.MetaBeforeKiB))
		}
		p("| %s | %s | %.1f | %.1f | %.1f | %d | %.0f %% | %d (%d) | %+.1f | %.1f | %s | %d / %d | %s |", w.Name, sent, w.HbP50, w.HbP99, w.HbMax, w.HbN,
			w.CPUPct, w.Drops, w.PeerDrops, growth, kib(w.RSSAfterKiB), meta, w.LeaderChanges, w.TermChanges, goal)
	}
}

func rateName(rate int) string {
	if rate <= 0 {
		return "full speed"
	}
	return fmt.Sprintf("%d packets (handshakes) per second", rate)
}
