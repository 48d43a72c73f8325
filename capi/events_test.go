package main

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/graftlib/graft/election"
)

// Codes of evq.h and graft.h the tests compare with (_test.go files cannot
// use cgo).
const (
	evqAbsent      = -1000 // GRAFT__EVQ_ABSENT
	codeEinval     = -1    // GRAFT_EINVAL
	kindState      = 1
	kindLeader     = 2
	kindOverflow   = 5
	firstEventSize = 4 + 4 + 4 + 4 + 8 + 8 + 256 // the first graft_event: up to leader
	fullEventSize  = firstEventSize + 8          // sizeof(graft_event) since at_ns
	unwritten      = uint64(0xa5a5a5a5a5a5a5a5)  // next's mark: bytes the library did not write
)

// testQueueIDs hands each test queue an id no node handle ever has (the
// handle table counts up from 1), so tests never meet a node's queue.
var testQueueIDs atomic.Uintptr

func init() { testQueueIDs.Store(1 << 62) }

// testQueue returns a queue of at most limit events with its descriptor
// asked for, registered under a fresh id, shut down when the test ends.
func testQueue(t *testing.T, limit int) (*eventQueue, uintptr, int) {
	t.Helper()
	q, id := newEventQueue(limit), testQueueIDs.Add(1)
	fd, err := q.descriptor(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.shutdown)
	return q, id, int(fd)
}

// readable reports whether fd is readable now (select with a zero timeout).
func readable(t *testing.T, fd int) bool {
	t.Helper()
	var set syscall.FdSet
	set.Bits[fd/64] |= 1 << (uint(fd) % 64)
	n, err := syscall.Select(fd+1, &set, nil, nil, &syscall.Timeval{})
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// drain pops every queued event through the C fast path and returns their
// kinds and terms.
func drain(t *testing.T, q *eventQueue, id uintptr) (kinds []int, terms []uint64) {
	t.Helper()
	for {
		ev, rc := q.next(id, fullEventSize)
		switch rc {
		case 0:
			return kinds, terms
		case 1:
			kinds = append(kinds, ev.kind)
			terms = append(terms, ev.term)
		default:
			t.Fatalf("pop: %d", rc)
		}
	}
}

func TestEventQueue_NothingQueuedBeforeTheDescriptor(t *testing.T) {
	q, id := newEventQueue(8), testQueueIDs.Add(1)
	q.push(kindState, 0, 0, 1, 0, "")
	if _, rc := q.next(id, fullEventSize); rc != evqAbsent {
		t.Fatalf("fast path before the descriptor: %d, want absent", rc)
	}
	if n, err := q.pop(id, nil); n != 0 || err != nil {
		t.Fatalf("Go pop before the descriptor: %d %v", n, err)
	}
	fd, err := q.descriptor(id)
	if err != nil {
		t.Fatal(err)
	}
	defer q.shutdown()
	if fd2, _ := q.descriptor(id); fd2 != fd {
		t.Fatalf("second call gave descriptor %d, first %d", fd2, fd)
	}
	if k, _ := drain(t, q, id); len(k) != 0 {
		t.Fatalf("queued %v before the descriptor was asked for", k)
	}
}

func TestEventQueue_ReadableWhileQueuedUntilACallReturnsZero(t *testing.T) {
	q, id, fd := testQueue(t, 8)
	if readable(t, fd) {
		t.Fatal("readable with an empty queue")
	}
	q.push(kindState, 0, 0, 1, 0, "")
	q.push(kindLeader, 0, 0, 1, 0, "n1")
	if !readable(t, fd) {
		t.Fatal("not readable with 2 events queued")
	}
	if _, rc := q.next(id, fullEventSize); rc != 1 || !readable(t, fd) {
		t.Fatal("not readable with 1 event left")
	}
	// The call that finds the queue empty clears the descriptor (so that
	// the calls that return an event make no system call).
	if _, rc := q.next(id, fullEventSize); rc != 1 || !readable(t, fd) {
		t.Fatal("not readable before a call returned 0")
	}
	if _, rc := q.next(id, fullEventSize); rc != 0 || readable(t, fd) {
		t.Fatalf("pop of an empty queue: %d; still readable after it", rc)
	}
	q.push(kindState, 0, 0, 2, 0, "")
	if !readable(t, fd) {
		t.Fatal("not readable once an event was queued after a clear")
	}
	drain(t, q, id)
	q.shutdown()
	q.shutdown() // idempotent
	if _, rc := q.next(id, fullEventSize); rc != evqAbsent {
		t.Fatalf("fast path after shutdown: %d, want absent", rc)
	}
	if _, err := q.pop(id, nil); !errors.Is(err, election.ErrClosed) {
		t.Fatalf("pop after shutdown: %v, want ErrClosed", err)
	}
	if _, err := q.descriptor(id); !errors.Is(err, election.ErrClosed) {
		t.Fatalf("descriptor after shutdown: %v, want ErrClosed", err)
	}
	q.push(kindState, 0, 0, 1, 0, "") // dropped, no crash
}

func TestEventQueue_FieldsAndTheCallersSize(t *testing.T) {
	q, id, _ := testQueue(t, 8)
	q.push(kindState, 1, 3, 7, 0, "")
	q.push(3, 0, 0, 8, 123456789, "")
	q.push(kindLeader, 0, 0, 9, 0, "node-a")
	long := strings.Repeat("x", 300)
	q.push(kindLeader, 0, 0, 10, 0, long)
	q.push(kindState, 3, 1, 11, 0, "")

	if ev, rc := q.next(id, fullEventSize); rc != 1 || ev != (poppedEvent{kind: kindState, from: 1, to: 3, term: 7, at: 0, size: fullEventSize}) {
		t.Fatalf("state event: %+v rc %d", ev, rc)
	}
	if ev, _ := q.next(id, fullEventSize); ev.kind != 3 || ev.term != 8 || ev.deadline != 123456789 || ev.leader != "" {
		t.Fatalf("lease event: %+v", ev)
	}
	if ev, _ := q.next(id, fullEventSize); ev.leader != "node-a" || ev.term != 9 {
		t.Fatalf("leader event: %+v", ev)
	}
	if ev, _ := q.next(id, fullEventSize); ev.leader != long[:255] {
		t.Fatalf("a leader id beyond GRAFT_ID_MAX-1 is cut, terminated: got %d bytes", len(ev.leader))
	}
	// A caller's struct larger than the library's gets what the library
	// knows, and is told how much; a smaller one than the first
	// graft_event is refused and loses nothing.
	if _, rc := q.next(id, firstEventSize-1); rc != codeEinval {
		t.Fatalf("a struct one byte short of the first graft_event: %d, want GRAFT_EINVAL", rc)
	}
	if ev, rc := q.next(id, fullEventSize+64); rc != 1 || ev.size != fullEventSize || ev.term != 11 {
		t.Fatalf("a larger struct: %+v rc %d", ev, rc)
	}
}

func TestEventQueue_AtNsAndACallerOfTheFirstSize(t *testing.T) {
	// Issue 13: at_ns is the instant the node's core emitted the event, on
	// CLOCK_MONOTONIC; a caller built against the first graft_event (its
	// size ends at leader) gets every field it knows, is told it got
	// exactly those bytes, and not one byte past them is written.
	q, id, _ := testQueue(t, 8)
	emitted := 1500 * time.Millisecond // of the node's clock (election.SystemClock)
	q.eventAt = func() time.Duration { return emitted }
	want := monotonicNS(emitted)
	for term := uint64(1); term <= 4; term++ {
		q.push(3, 0, 0, term, 99, "")
	}
	if ev, rc := q.next(id, fullEventSize); rc != 1 || ev.at != want || ev.size != fullEventSize || ev.deadline != 99 {
		t.Fatalf("full size: %+v rc %d, want at %d", ev, rc, want)
	}
	for _, size := range []uint32{firstEventSize, fullEventSize - 1} {
		ev, rc := q.next(id, size)
		if rc != 1 || ev.size != firstEventSize || ev.at != unwritten || ev.deadline != 99 || ev.kind != 3 {
			t.Fatalf("size %d: %+v rc %d: want the first graft_event's fields, %d bytes, at_ns untouched", size, ev, rc, firstEventSize)
		}
	}
	if ev, _ := q.next(id, fullEventSize+64); ev.at != want || ev.size != fullEventSize {
		t.Fatalf("a larger struct: %+v", ev)
	}
	// The OVERFLOW marker is no event of the core's: at_ns 0.
	small, sid, _ := testQueue(t, 2)
	small.eventAt = q.eventAt
	for term := uint64(1); term <= 3; term++ {
		small.push(kindState, 0, 0, term, 0, "")
	}
	if ev, _ := small.next(sid, fullEventSize); ev.kind != kindOverflow || ev.at != 0 {
		t.Fatalf("marker: %+v", ev)
	}
	if ev, _ := small.next(sid, fullEventSize); ev.at != want {
		t.Fatalf("after the marker: %+v", ev)
	}
}

func TestEventQueue_OverflowKeepsTheNewestBehindOneMarker(t *testing.T) {
	q, id, _ := testQueue(t, 4)
	for term := uint64(1); term <= 10; term++ {
		q.push(kindState, 0, 0, term, 0, "")
	}
	kinds, terms := drain(t, q, id)
	want := []uint64{7, 8, 9, 10} // the marker names the newest dropped: 7
	if len(kinds) != 4 || kinds[0] != kindOverflow || kinds[1] != kindState {
		t.Fatalf("kinds %v: want one OVERFLOW then the newest events", kinds)
	}
	for i := range want {
		if terms[i] != want[i] {
			t.Fatalf("terms %v, want %v", terms, want)
		}
	}
	// Below the limit again: plain events, no marker.
	q.push(kindLeader, 0, 0, 11, 0, "")
	if kinds, _ := drain(t, q, id); len(kinds) != 1 || kinds[0] != kindLeader {
		t.Fatalf("after draining: %v", kinds)
	}
}

// The ring grows by doubling past its first 8 slots, wraps, and gives its
// memory back once drained; the order holds throughout.
func TestEventQueue_GrowsWrapsAndShrinksInOrder(t *testing.T) {
	q, id, fd := testQueue(t, eventQueueLimit)
	next := uint64(1)
	for round, n := range []int{5, 40, 3, 700, 1} {
		for i := 0; i < n; i++ {
			q.push(kindState, 0, 0, next+uint64(i), 0, "")
		}
		// Read half, push again, read all: the ring wraps around.
		for i := 0; i < n/2; i++ {
			if ev, rc := q.next(id, fullEventSize); rc != 1 || ev.term != next {
				t.Fatalf("round %d: got term %d rc %d, want %d", round, ev.term, rc, next)
			}
			next++
		}
		base := next + uint64(n-n/2)
		for i := 0; i < n/2; i++ {
			q.push(kindState, 0, 0, base+uint64(i), 0, "")
		}
		_, terms := drain(t, q, id)
		for _, term := range terms {
			if term != next {
				t.Fatalf("round %d: got term %d, want %d", round, term, next)
			}
			next++
		}
		if readable(t, fd) {
			t.Fatalf("round %d: readable once drained", round)
		}
	}
}

// Concurrent readers (graft_node_next_event from several threads) get
// every event exactly once while the callback goroutine pushes; a shutdown
// under readers neither crashes nor leaves one stuck.
func TestEventQueue_ConcurrentPopsGetEachEventOnce(t *testing.T) {
	const events, readers = 20000, 4
	q, id, _ := testQueue(t, 2*events) // no overflow: every event must arrive
	seen := make([]atomic.Int32, events+1)
	var wg sync.WaitGroup
	var done atomic.Bool
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				last := done.Load() // before the pop: 0 then means drained
				ev, rc := q.next(id, fullEventSize)
				switch {
				case rc == 1:
					seen[ev.term].Add(1)
				case rc == 0 && last:
					return
				case rc < 0:
					t.Errorf("pop: %d", rc)
					return
				}
			}
		}()
	}
	for term := uint64(1); term <= events; term++ {
		q.push(kindState, 0, 0, term, 0, "")
	}
	done.Store(true)
	wg.Wait()
	for term := 1; term <= events; term++ {
		if n := seen[term].Load(); n != 1 {
			t.Fatalf("event %d popped %d times", term, n)
		}
	}

	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, rc := q.next(id, fullEventSize); rc == evqAbsent {
					return
				}
			}
		}()
	}
	q.push(kindState, 0, 0, 1, 0, "")
	q.shutdown()
	wg.Wait()
}
