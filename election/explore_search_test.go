package election

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The explorer's search (explore_test.go says what it explores): breadth
// first by deviations, or by depth, with states deduplicated by their
// canonical encoding.

// xPath is a path of choices from the start state, newest last.
type xPath struct {
	parent *xPath
	c      choice
}

func (p *xPath) choices() []choice {
	var out []choice
	for ; p != nil; p = p.parent {
		out = append(out, p.c)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// xReport is what a search did.
type xReport struct {
	states      int // distinct states reached
	transitions int // choices tried
	bounded     int // states beyond a bound, not explored
	cut         int // paths cut at the depth bound
	depth, cost int // deepest path and most deviations expanded
	elapsed     time.Duration
	complete    bool   // every state within the bounds was expanded
	violation   string // what broke, "" when nothing did
	start       *xWorld
	path        []choice // the counterexample, from start
}

// explore searches from each start state within b and stops at the first
// violation. The start states differ in their clock rates, so they share
// no state: each is searched on its own, GOMAXPROCS at a time. maxStates
// (0: none) caps the states of all searches together.
func explore(starts []*xWorld, b xBounds, maxStates int) xReport {
	t0 := time.Now()
	reps := make([]xReport, len(starts))
	var stop atomic.Bool
	var states atomic.Int64
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, s := range starts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			reps[i] = search(s, b, func(n int) bool {
				if stop.Load() {
					return false
				}
				return maxStates == 0 || states.Add(int64(n)) <= int64(maxStates)
			})
			if reps[i].violation != "" {
				stop.Store(true)
			}
		})
	}
	wg.Wait()
	rep := xReport{complete: true}
	for _, r := range reps {
		rep.states += r.states
		rep.transitions += r.transitions
		rep.bounded += r.bounded
		rep.cut += r.cut
		rep.depth, rep.cost = max(rep.depth, r.depth), max(rep.cost, r.cost)
		rep.complete = rep.complete && r.complete
		if r.violation != "" && (rep.violation == "" || len(r.path) < len(rep.path)) {
			rep.violation, rep.start, rep.path = r.violation, r.start, r.path
		}
	}
	rep.elapsed = time.Since(t0)
	return rep
}

// search explores from start and stops at the first violation. more is
// asked before each expansion, with the states added since; false stops
// the search (another one found a violation, or the states ran out).
//
// It deepens iteratively: a depth-first search with the cost bound 1, 2,
// ... up to b's, where the cost is the depth, or with b.deviations the
// deviations. So a counterexample is one of least cost, and only the path
// being explored and the hashes of the states seen are in memory.
func search(start *xWorld, b xBounds, more func(added int) bool) xReport {
	limit := b.deviations
	if limit == 0 {
		limit = b.depth
	}
	var rep xReport
	for k := 1; k <= limit; k++ {
		s := &searcher{b: b, limit: k, enc: newEncoder(), seen: map[uint64]reached{}, more: more}
		s.rep = xReport{complete: true, start: start}
		s.visit(start, 0, 0)
		s.walk(start, nil, 0, 0)
		s.rep.states = len(s.seen)
		rep.transitions += s.rep.transitions
		s.rep.transitions = rep.transitions
		rep = s.rep
		if rep.violation != "" || !rep.complete {
			break
		}
	}
	return rep
}

// searcher is one depth-first search with a cost bound.
type searcher struct {
	b       xBounds
	limit   int // the cost bound of this iteration
	enc     *encoder
	seen    map[uint64]reached
	more    func(added int) bool
	counted int
	rep     xReport
}

// reached holds, for each cost up to maxCost, the least depth a state was
// reached at with that cost (0xff: never). A state reached again is
// explored again unless an earlier visit cost no more and was no deeper:
// with both a cost and a depth bound, either can leave more to explore.
type reached [maxCost + 1]uint8

// maxCost is the highest cost whose depths reached keeps; higher costs
// count as maxCost, and depths above 254 as 254.
const maxCost = 7

// visit records that w was reached at cost and depth; false if an earlier
// visit dominates it.
func (s *searcher) visit(w *xWorld, cost, depth int) bool {
	k := s.enc.key(w, s.b)
	c, d := min(cost, maxCost), uint8(min(depth, 254))
	r, ok := s.seen[k]
	if !ok {
		r = reached{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	for i := 0; i <= c; i++ {
		if r[i] <= d {
			return false
		}
	}
	r[c] = d
	s.seen[k] = r
	return true
}

// walk explores everything from w, reached at cost along path (depth
// choices long). With deviations it follows the healthy schedule (next)
// at no cost until it meets a state already seen, and tries every
// deviation from every state on the way; the depth search tries every
// choice. It returns false when the search must stop.
func (s *searcher) walk(w *xWorld, path *xPath, cost, depth int) bool {
	b := s.b
	for {
		s.rep.depth, s.rep.cost = max(s.rep.depth, depth), max(s.rep.cost, cost)
		if depth >= b.depth {
			s.rep.cut++
			return true
		}
		if !s.more(len(s.seen) - s.counted) {
			s.rep.complete = false
			return false
		}
		s.counted = len(s.seen)
		if cost < s.limit {
			for _, c := range w.choices(b) {
				s.rep.transitions++
				nw, out, bad := w.apply(c, b)
				switch out {
				case outViolate:
					s.rep.violation, s.rep.path = bad, (&xPath{path, c}).choices()
					return false
				case outBound:
					s.rep.bounded++
				case outOK:
					if s.visit(nw, cost+1, depth+1) && !s.walk(nw, &xPath{path, c}, cost+1, depth+1) {
						return false
					}
				}
			}
		}
		if b.deviations == 0 {
			return true // the depth search has no healthy walk
		}
		c := w.next()
		s.rep.transitions++
		nw, out, bad := w.apply(c, b)
		switch {
		case out == outViolate:
			s.rep.violation, s.rep.path = bad, (&xPath{path, c}).choices()
			return false
		case out == outBound:
			s.rep.bounded++
			return true
		case !s.visit(nw, cost, depth+1):
			return true
		}
		w, path, depth = nw, &xPath{path, c}, depth+1
	}
}
