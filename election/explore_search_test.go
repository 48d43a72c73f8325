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
	// cutStart and cutPath are one path cut at the depth bound (nil when
	// none was): what -explore.showcut prints.
	cutStart *xWorld
	cutPath  []choice
}

// explore searches from each start state in turn within b and stops at
// the first violation. maxStates (0: none) caps the states of each
// iteration of a search.
func explore(starts []*xWorld, b xBounds, maxStates int) xReport {
	t0 := time.Now()
	rep := xReport{complete: true}
	for _, s := range starts {
		r := search(s, b, maxStates)
		rep.states += r.states
		rep.transitions += r.transitions
		rep.bounded += r.bounded
		rep.cut += r.cut
		rep.depth, rep.cost = max(rep.depth, r.depth), max(rep.cost, r.cost)
		rep.complete = rep.complete && r.complete
		if rep.cutPath == nil && r.cutPath != nil {
			rep.cutStart, rep.cutPath = s, r.cutPath
		}
		if r.violation != "" {
			rep.violation, rep.start, rep.path = r.violation, r.start, r.path
			break
		}
	}
	rep.elapsed = time.Since(t0)
	return rep
}

// search explores from start and stops at the first violation.
//
// It deepens iteratively: a depth-first search with the cost bound 1, 2,
// ... up to b's, where the cost is the depth, or with b.deviations the
// deviations. So a counterexample is one of least cost, and only the paths
// being explored and the hashes of the states seen are in memory. Each
// iteration walks the healthy schedule from start and hands the states
// one deviation away to GOMAXPROCS workers, which share what they have
// seen.
func search(start *xWorld, b xBounds, maxStates int) xReport {
	limit := b.deviations
	if limit == 0 {
		limit = b.depth
	}
	var rep xReport
	transitions := 0
	for k := 1; k <= limit; k++ {
		rep = iteration(start, b, k, maxStates)
		transitions += rep.transitions
		rep.transitions = transitions
		if rep.violation != "" || !rep.complete {
			break
		}
	}
	return rep
}

// iteration is one depth-first search from start with the cost bound
// limit, by GOMAXPROCS workers that share the states seen and hand
// subtrees to each other when one runs out of work.
func iteration(start *xWorld, b xBounds, limit, maxStates int) xReport {
	seen := newSeenSet()
	q := newWorkQueue()
	var stop atomic.Bool
	newSearcher := func() *searcher {
		return &searcher{b: b, limit: limit, enc: newEncoder(), seen: seen, stop: &stop, maxStates: maxStates,
			q: q, rep: xReport{complete: true, start: start}}
	}
	root := newSearcher()
	root.collect = true
	root.visit(start, 0, 0)
	root.walk(start, nil, 0, 0)
	if root.rep.violation != "" {
		root.rep.states = seen.len()
		return root.rep
	}
	workers := make([]*searcher, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range workers {
		s := newSearcher()
		workers[i] = s
		wg.Go(func() {
			for {
				it, ok := q.pop()
				if !ok {
					return
				}
				if !s.walk(it.w, it.path, it.cost, it.depth) {
					stop.Store(true)
					q.stop()
				}
				q.finish()
			}
		})
	}
	wg.Wait()
	rep := root.rep
	for _, s := range workers {
		rep.transitions += s.rep.transitions
		rep.bounded += s.rep.bounded
		rep.cut += s.rep.cut
		rep.depth, rep.cost = max(rep.depth, s.rep.depth), max(rep.cost, s.rep.cost)
		rep.complete = rep.complete && s.rep.complete
		if rep.cutPath == nil && s.rep.cutPath != nil {
			rep.cutPath = s.rep.cutPath
		}
		if s.rep.violation != "" && (rep.violation == "" || len(s.rep.path) < len(rep.path)) {
			rep.violation, rep.path = s.rep.violation, s.rep.path
		}
	}
	if rep.violation != "" {
		rep.complete = true // stopped by the violation, not by a bound
	}
	rep.states = seen.len()
	return rep
}

// xItem is a subtree waiting for a worker: the state a deviation reached.
type xItem struct {
	w           *xWorld
	path        *xPath
	cost, depth int
}

// workQueue holds the subtrees waiting for a worker, newest first.
type workQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []xItem
	active int          // workers exploring an item
	idle   atomic.Int32 // workers waiting for one
	done   bool
}

func newWorkQueue() *workQueue {
	q := &workQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// hungry reports whether a worker waits for work: a walk then hands its
// subtrees over instead of exploring them itself.
func (q *workQueue) hungry() bool { return q.idle.Load() > 0 }

func (q *workQueue) push(it xItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	q.cond.Signal()
}

// pop waits for an item; false when the search is over (no item left and
// no worker that could make one).
func (q *workQueue) pop() (xItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.done {
		if q.active == 0 {
			q.done = true
			q.cond.Broadcast()
			break
		}
		q.idle.Add(1)
		q.cond.Wait()
		q.idle.Add(-1)
	}
	if len(q.items) == 0 || q.done {
		return xItem{}, false
	}
	it := q.items[len(q.items)-1]
	q.items[len(q.items)-1] = xItem{}
	q.items = q.items[:len(q.items)-1]
	q.active++
	return it, true
}

// finish ends the work on a popped item.
func (q *workQueue) finish() {
	q.mu.Lock()
	q.active--
	if q.active == 0 && len(q.items) == 0 {
		q.done = true
		q.cond.Broadcast()
	}
	q.mu.Unlock()
}

// stop ends the search.
func (q *workQueue) stop() {
	q.mu.Lock()
	q.done, q.items = true, nil
	q.mu.Unlock()
	q.cond.Broadcast()
}

// searcher is one worker of a depth-first search with a cost bound.
type searcher struct {
	b         xBounds
	limit     int // the cost bound of this iteration
	enc       *encoder
	seen      *seenSet
	stop      *atomic.Bool
	maxStates int
	rep       xReport
	q         *workQueue
	// collect makes walk hand every state one deviation away to the
	// queue instead of exploring it (the first walk from the start).
	collect bool
}

// seenSet holds, for each state reached, the least depths it was reached
// at by cost; shared by the workers of a search, in locked shards.
type seenSet struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[uint64]reached
	}
	n atomic.Int64
}

func newSeenSet() *seenSet {
	s := &seenSet{}
	for i := range s.shards {
		s.shards[i].m = map[uint64]reached{}
	}
	return s
}

func (s *seenSet) len() int { return int(s.n.Load()) }

// reached holds, for each cost up to maxCost, the least depth a state was
// reached at with that cost (0xff: never). A state reached again is
// explored again unless an earlier visit cost no more and was no deeper:
// with both a cost and a depth bound, either can leave more to explore.
type reached [maxCost + 1]uint8

// maxCost is the highest cost whose depths reached keeps; higher costs
// count as maxCost, and depths above 254 as 254. Merging the depths above
// 254 can only skip a state whose subtree an earlier visit explored with
// less depth to spare: it matters only where a path reaches the depth
// bound, which leaves the search incomplete anyway (TestExplore fails a
// deviation search with such paths).
const maxCost = 7

// visit records that state k was reached at cost and depth; false if an
// earlier visit dominates it.
func (s *seenSet) visit(k uint64, cost, depth int) bool {
	c, d := min(cost, maxCost), uint8(min(depth, 254))
	sh := &s.shards[k%uint64(len(s.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.m[k]
	if !ok {
		r = reached{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		s.n.Add(1)
	}
	for i := 0; i <= c; i++ {
		if r[i] <= d {
			return false
		}
	}
	r[c] = d
	sh.m[k] = r
	return true
}

// visit records that w was reached at cost and depth; false if an earlier
// visit dominates it.
func (s *searcher) visit(w *xWorld, cost, depth int) bool {
	return s.seen.visit(s.enc.key(w, s.b), cost, depth)
}

// more reports whether the search goes on: no violation found elsewhere
// and the states not run out.
func (s *searcher) more() bool {
	if s.stop.Load() {
		return false
	}
	if s.maxStates > 0 && s.seen.len() >= s.maxStates {
		s.rep.complete = false
		return false
	}
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
			if s.rep.cutPath == nil {
				s.rep.cutPath = path.choices()
			}
			return true
		}
		if !s.more() {
			return false
		}
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
					switch {
					case !s.visit(nw, cost+1, depth+1):
					case s.collect || s.q.hungry():
						s.q.push(xItem{nw, &xPath{path, c}, cost + 1, depth + 1})
					case !s.walk(nw, &xPath{path, c}, cost+1, depth+1):
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
