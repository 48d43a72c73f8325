package election

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// simOutcome is one schedule's result.
type simOutcome struct {
	seed uint64
	res  simResult
	err  error
}

// simBatch is what a batch of schedules measured.
type simBatch struct {
	count     int
	failed    []simOutcome // by seed
	steps     int
	recovered []time.Duration // sorted, of the schedules that passed
	perSize   map[int]int     // passed schedules by cluster size
	took      time.Duration
}

// runBatch runs the schedules first .. first+count-1 on GOMAXPROCS
// workers.
func runBatch(first uint64, count int, run func(seed uint64) (simResult, error)) simBatch {
	start := time.Now()
	seeds := make(chan uint64)
	out := make(chan simOutcome)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for seed := range seeds {
				res, err := run(seed)
				out <- simOutcome{seed, res, err}
			}
		})
	}
	go func() {
		for i := range count {
			seeds <- first + uint64(i)
		}
		close(seeds)
		wg.Wait()
		close(out)
	}()
	b := simBatch{count: count, perSize: map[int]int{}}
	for o := range out {
		b.steps += o.res.steps
		if o.err != nil {
			b.failed = append(b.failed, o)
			continue
		}
		b.perSize[o.res.nodes]++
		b.recovered = append(b.recovered, o.res.recovered)
	}
	slices.SortFunc(b.failed, func(x, y simOutcome) int { return int(x.seed) - int(y.seed) })
	slices.Sort(b.recovered)
	b.took = time.Since(start)
	return b
}

// report fails t with the first failures of the batch, each with its
// replay command, and logs one line of figures.
func (b simBatch) report(t *testing.T, name string, hint func(uint64) string) {
	t.Helper()
	for i, f := range b.failed {
		if i == 5 {
			t.Errorf("%s: ... and %d more failing schedules", name, len(b.failed)-5)
			break
		}
		t.Errorf("%s: schedule %d (%d nodes, drift %g, %s) failed: %v\n%s", name, f.seed, f.res.nodes, f.res.drift, f.res.desc, f.err, hint(f.seed))
	}
	kinds, line := "", ""
	if len(b.failed) > 0 {
		byKind := map[string]int{}
		for _, f := range b.failed {
			byKind[failureKind(f.err)]++
		}
		kinds = fmt.Sprintf(" %v", byKind)
	}
	if len(b.recovered) > 0 {
		emax := DefaultConfig().ElectionMax
		line = fmt.Sprintf("; leader after heal: median %.2f, max %.2f × ElectionMax (bound %d)",
			float64(b.recovered[len(b.recovered)/2])/float64(emax), float64(b.recovered[len(b.recovered)-1])/float64(emax), simLiveBoundTimeouts)
	}
	t.Logf("%-15s %7d schedules (3 nodes: %d, 5: %d, 7: %d), %d failed%s, %d steps, in %s%s",
		name, b.count, b.perSize[3], b.perSize[5], b.perSize[7], len(b.failed), kinds, b.steps, b.took.Round(time.Millisecond), line)
}

// failureKind names the property a failed schedule broke, for the counts.
func failureKind(err error) string {
	msg := err.Error()
	for _, k := range []string{"dual lease", "two leaders", "again after it stopped", "liveness", "voted for", "term went back", "differs from disk", "livelock"} {
		if strings.Contains(msg, k) {
			return strings.ReplaceAll(k, " ", "-")
		}
	}
	return "other"
}

// replayOne runs the one schedule seed of family name (run, traced under
// -v) and fails t with its replay command if it breaks a property.
func replayOne(t *testing.T, name string, seed uint64, hint func(uint64) string, run func(trace bool) (*sim, simResult, error)) {
	t.Helper()
	s, res, err := run(testing.Verbose())
	if testing.Verbose() {
		t.Log("\n" + s.dump())
	}
	t.Logf("%s seed %d: %d nodes, drift %g, fresh clocks %g, %s; faults for %s, recovered in %s, %d steps",
		name, seed, res.nodes, res.drift, res.fresh, res.desc, res.faults, res.recovered, res.steps)
	require.NoError(t, err, hint(seed))
}
