package election

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// The explorer's transcripts: a counterexample replayed from its start
// state, one line per choice and one per node after it.

// transcript replays path from start and describes each step.
func transcript(start *xWorld, path []choice, b xBounds) string {
	var sb strings.Builder
	w := start
	fmt.Fprintf(&sb, "start (clocks: %s)\n", w.rates())
	sb.WriteString(w.summary())
	for i, c := range path {
		what := w.describe(c)
		next, out, bad := w.apply(c, b)
		fmt.Fprintf(&sb, "%3d  %-10s %s\n", i+1, ms(next.now), what)
		if out == outViolate {
			sb.WriteString(next.summary())
			fmt.Fprintf(&sb, "     VIOLATION: %s\n", bad)
			break
		}
		if c.kind != xAdvance && c.kind != xDrop && c.kind != xDelay && c.kind != xCut {
			sb.WriteString(next.summary())
		}
		w = next
	}
	return sb.String()
}

// ms prints a duration in milliseconds, to the microsecond.
func ms(d time.Duration) string {
	if d == math.MaxInt64 {
		return "forever"
	}
	return fmt.Sprintf("%.3fms", float64(d)/1e6)
}

func (w *xWorld) rates() string {
	var parts []string
	for _, n := range w.nodes {
		parts = append(parts, fmt.Sprintf("%s ×%g", n.id, n.rate))
	}
	return strings.Join(parts, ", ")
}

// describe says what choice c does in w.
func (w *xWorld) describe(c choice) string {
	name := func() string { return w.nodes[c.node].id }
	switch c.kind {
	case xDeliver:
		return "deliver " + msgString(w.net[c.arg].m)
	case xDup:
		return "deliver " + msgString(w.net[c.arg].m) + ", a duplicate stays in flight"
	case xDrop:
		return "lose " + msgString(w.net[c.arg].m)
	case xDelay:
		return "hold back " + msgString(w.net[c.arg].m)
	case xTick:
		return name() + ": timer fires"
	case xAdvance:
		return "time passes"
	case xCrash:
		return name() + ": process crashes"
	case xRestart:
		return name() + ": new process starts, its clock at 0"
	case xStepDown:
		return name() + ": StepDown (hands over)"
	case xClose:
		return name() + ": Close (hands over, process stops)"
	case xPause:
		return name() + ": process paused for ElectionMax"
	case xCut:
		return "every link from " + name() + " cut for ElectionMax: what it sends is lost"
	}
	return "?"
}

func msgString(m Message) string {
	s := fmt.Sprintf("%s %s→%s t%d", m.Kind, m.From, m.To, m.Term)
	if m.Granted {
		s += " granted"
	}
	if m.Transfer {
		s += " transfer"
	}
	if m.Stamp != 0 {
		s += " stamp " + ms(time.Duration(m.Stamp))
	}
	return s
}

// summary describes every node and the messages in flight, one line each.
// Instants are those of the node's own clock (clock = its reading now).
func (w *xWorld) summary() string {
	var sb strings.Builder
	for _, n := range w.nodes {
		fmt.Fprintf(&sb, "       %s\n", w.nodeString(n))
	}
	if len(w.net) > 0 {
		var ms []string
		for _, x := range w.net {
			s := msgString(x.m)
			if x.delayed {
				s += " (held)"
			}
			ms = append(ms, s)
		}
		fmt.Fprintf(&sb, "       in flight: %s\n", strings.Join(ms, "; "))
	}
	return sb.String()
}

func (w *xWorld) nodeString(n *xNode) string {
	r := n.r
	if r == nil {
		return fmt.Sprintf("%s: down (disk: term %d, vote %q)", n.id, n.store.hs.Term, n.store.hs.VotedFor)
	}
	local := n.local(w.now)
	s := fmt.Sprintf("%s: %s t%d", n.id, roleName(r.role), r.term)
	if w.paused(w.index(n.id)) {
		s = fmt.Sprintf("%s: (paused until %s) %s t%d", n.id, ms(w.pauseEnd[w.index(n.id)]), roleName(r.role), r.term)
	}
	if r.vote != "" {
		s += " voted " + r.vote
	}
	s += ", clock " + ms(local)
	if r.role == roleLeader {
		acks := []string{}
		for _, p := range slices.Sorted(maps.Keys(r.acked)) {
			acks = append(acks, p+"@"+ms(r.acked[p]))
		}
		s += fmt.Sprintf(", elected %s, acks [%s]", ms(r.electedAt), strings.Join(acks, " "))
		if lu := r.leaseUntil(); lu > local {
			s += fmt.Sprintf(", LEASE until %s (real %s)", ms(lu), ms(n.facts.leaseEnd))
		}
		return s
	}
	if r.leader != "" {
		s += ", follows " + r.leader
	}
	if r.inLease(local) {
		s += ", refuses votes until " + ms(r.leaderContact+r.cfg.ElectionMin)
	}
	if r.candidacy != nil {
		s += fmt.Sprintf(", candidacy %v", slices.Sorted(maps.Keys(r.candidacy)))
	}
	return s + ", timer " + ms(r.electionDeadline)
}

func roleName(r role) string {
	return [...]string{"follower", "pre-candidate", "candidate", "leader"}[r]
}
