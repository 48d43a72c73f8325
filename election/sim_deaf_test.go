package election

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deafTrial crashes the leader of a settled cluster of nodes after making
// deaf of its followers, its first successor first when successorDeaf, able
// to send but not to receive, and returns the failover in ElectionMin.
func deafTrial(seed uint64, nodes, deaf int, successorDeaf bool, cfg Config) (float64, error) {
	s := newSim(seed, simOptions{nodes: nodes, cfg: cfg, drift: DefaultMaxClockDrift})
	settle := 4*cfg.ElectionMax + 2*time.Second + time.Duration(s.rng.Int64N(int64(time.Second)))
	if err := s.run(settle); err != nil {
		return 0, err
	}
	l := s.leader()
	if l == nil {
		return 0, errors.New("no leader")
	}
	var deafs []*simNode
	if successorDeaf {
		deafs = append(deafs, s.nodes[s.byID[l.r.stats.Successor]])
	}
	for _, n := range s.nodes {
		if len(deafs) < deaf && n != l && !slices.Contains(deafs, n) {
			deafs = append(deafs, n)
		}
	}
	for _, d := range deafs {
		for _, x := range s.nodes {
			if x != d {
				s.cut[[2]int{x.idx, d.idx}] = true
			}
		}
	}
	crashed := s.now
	s.crash(l)
	got, err := awaitLease(s, 30*cfg.ElectionMin)
	if err != nil {
		return 0, err
	}
	return float64(got-crashed) / float64(cfg.ElectionMin), nil
}

// TestSim_DeafSuccessors measures failover when the leader's first
// successor, and more of its followers, can send but not receive (a
// one-way partition): their pre-votes reach the voters, who grant and
// promise them (promise.go), but never pass. A promise holds a voter's
// own campaign back for its restraint, so such peers slow the others
// down: bounded here at p99 ≤ 2.0 ElectionMin with 1 of 5 and 2 of 7
// (1.49 and 1.69 measured, 1.18 and 1.67 while a grant again bound the
// voter to nothing, which let two retries pass together:
// TestPromise_OverlappingRetriesOneCandidate; 1.06 and 1.09 before
// promises; 1.31 and 2.27 with a restraint of a quarter of ElectionMin,
// 1.77 and 2.35 when every grant again to the same peer restarted it),
// and every trial elects.
func TestSim_DeafSuccessors(t *testing.T) {
	trials := 300
	if testing.Short() || raceEnabled {
		trials = 100
	}
	for _, c := range []struct {
		nodes, deaf    int
		hb, emin, emax time.Duration
		bound          float64
	}{
		{5, 1, 50, 300, 450, 2.0}, {7, 2, 50, 300, 450, 2.0}, {9, 3, 50, 300, 450, 3.0},
		{7, 2, 10, 300, 450, 3.0}, {7, 2, 50, 2000, 3000, 3.0},
	} {
		cfg := DefaultConfig()
		cfg.Heartbeat, cfg.ElectionMin, cfg.ElectionMax = c.hb*time.Millisecond, c.emin*time.Millisecond, c.emax*time.Millisecond
		var got []float64
		for seed := uint64(1); seed <= uint64(trials); seed++ {
			f, err := deafTrial(seed, c.nodes, c.deaf, true, cfg)
			require.NoError(t, err, "%+v seed %d", c, seed)
			got = append(got, f)
		}
		slices.Sort(got)
		p99 := got[len(got)*99/100]
		t.Logf("%d nodes, %d deaf, heartbeat %d ms, election %d-%d ms: failover median %.3f, p99 %.3f, max %.3f × ElectionMin",
			c.nodes, c.deaf, c.hb, c.emin, c.emax, got[len(got)/2], p99, got[len(got)-1])
		require.LessOrEqual(t, p99, c.bound, "%+v", c)
	}
}
