package main

import (
	"errors"
	"syscall"
	"testing"

	"github.com/graftlib/graft/election"
)

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

// kinds pops every queued event and returns their kinds and terms.
func drain(t *testing.T, q *eventQueue) (kinds []int, terms []uint64) {
	t.Helper()
	for {
		ev, ok, err := q.pop()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return kinds, terms
		}
		kinds = append(kinds, int(ev.kind))
		terms = append(terms, ev.term)
	}
}

func TestEventQueue_NothingQueuedBeforeTheDescriptor(t *testing.T) {
	q := newEventQueue(8)
	q.push(hostEvent{kind: 1, term: 1})
	if k, _ := drain(t, q); len(k) != 0 {
		t.Fatalf("queued %v before the descriptor was asked for", k)
	}
	fd, err := q.descriptor()
	if err != nil {
		t.Fatal(err)
	}
	if fd2, _ := q.descriptor(); fd2 != fd {
		t.Fatalf("second call gave descriptor %d, first %d", fd2, fd)
	}
	q.shutdown()
}

func TestEventQueue_ReadableExactlyWhileQueued(t *testing.T) {
	q := newEventQueue(8)
	cfd, err := q.descriptor()
	if err != nil {
		t.Fatal(err)
	}
	fd := int(cfd)
	if readable(t, fd) {
		t.Fatal("readable with an empty queue")
	}
	q.push(hostEvent{kind: 1, term: 1})
	q.push(hostEvent{kind: 2, term: 1})
	if !readable(t, fd) {
		t.Fatal("not readable with 2 events queued")
	}
	if _, ok, _ := q.pop(); !ok || !readable(t, fd) {
		t.Fatal("not readable with 1 event left")
	}
	if _, ok, _ := q.pop(); !ok || readable(t, fd) {
		t.Fatal("readable after the last event was popped")
	}
	if _, ok, err := q.pop(); ok || err != nil {
		t.Fatalf("pop of an empty queue: ok %v, err %v", ok, err)
	}
	q.shutdown()
	q.shutdown() // idempotent
	if _, _, err := q.pop(); !errors.Is(err, election.ErrClosed) {
		t.Fatalf("pop after shutdown: %v, want ErrClosed", err)
	}
	if _, err := q.descriptor(); !errors.Is(err, election.ErrClosed) {
		t.Fatalf("descriptor after shutdown: %v, want ErrClosed", err)
	}
	q.push(hostEvent{kind: 1}) // dropped, no crash
}

func TestEventQueue_OverflowKeepsTheNewestBehindOneMarker(t *testing.T) {
	const overflow = 5 // GRAFT_EVENT_OVERFLOW
	q := newEventQueue(4)
	if _, err := q.descriptor(); err != nil {
		t.Fatal(err)
	}
	defer q.shutdown()
	for term := uint64(1); term <= 10; term++ {
		q.push(hostEvent{kind: 1, term: term})
	}
	kinds, terms := drain(t, q)
	want := []uint64{7, 8, 9, 10} // the marker names the newest dropped: 7
	if len(kinds) != 4 || kinds[0] != overflow || kinds[1] != 1 {
		t.Fatalf("kinds %v: want one OVERFLOW then the newest events", kinds)
	}
	for i := range want {
		if terms[i] != want[i] {
			t.Fatalf("terms %v, want %v", terms, want)
		}
	}
	// Below the limit again: plain events, no marker.
	q.push(hostEvent{kind: 3, term: 11})
	if kinds, _ := drain(t, q); len(kinds) != 1 || kinds[0] != 3 {
		t.Fatalf("after draining: %v", kinds)
	}
}
