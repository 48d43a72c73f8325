package main

/*
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "capi.h"

// The descriptor of graft_node_event_fd is an eventfd whose counter is 1
// while events are queued and 0 otherwise: readable exactly then.
static inline int graft__eventfd_new(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
static inline void graft__eventfd_raise(int fd) {
	uint64_t one = 1;
	while (write(fd, &one, sizeof one) < 0 && errno == EINTR) {}
}
static inline void graft__eventfd_clear(int fd) {
	uint64_t v;
	while (read(fd, &v, sizeof v) < 0 && errno == EINTR) {}
}
static inline void graft__eventfd_close(int fd) { close(fd); }
static inline int graft__errno(void) { return errno; }
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/graftlib/graft/election"
)

// eventQueueLimit bounds a node's queue of events for graft_node_next_event.
// Events are a handful per election, so only a host that stopped reading
// reaches it; what it then needs is the current state (the query
// functions), not the history.
const eventQueueLimit = 1024

// eventSizeMin is the size of the first graft_event (0.1): fields are only
// ever appended after leader, so a caller's struct is never smaller.
const eventSizeMin = unsafe.Offsetof(C.graft_event{}.leader) + C.GRAFT_ID_MAX

// hostEvent is one queued event, in Go memory until it is popped.
type hostEvent struct {
	kind     C.graft_event_kind
	from, to election.State
	term     uint64
	deadline uint64 // CLOCK_MONOTONIC ns (lease events)
	leader   string
}

// eventQueue holds the events of one node for graft_node_next_event, and
// the eventfd that is readable while it is not empty. Nothing is queued
// until the host asks for the descriptor: a host that does not use it pays
// one atomic load per event. The node's callback goroutine pushes (before
// it calls the C callback of the same event, so both see one sequence);
// any host thread pops.
type eventQueue struct {
	on    atomic.Bool // the descriptor exists and the node is not closed
	mu    sync.Mutex
	fd    C.int // -1 until the first graft_node_event_fd
	shut  bool  // closed with the node: fd is gone
	q     []hostEvent
	limit int
}

// newEventQueue returns an empty queue of at most limit (>= 2) events.
func newEventQueue(limit int) *eventQueue { return &eventQueue{fd: -1, limit: max(limit, 2)} }

// descriptor returns the eventfd, creating it on the first call; from then
// on events are queued.
func (e *eventQueue) descriptor() (C.int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shut {
		return -1, election.ErrClosed
	}
	if e.fd < 0 {
		fd := C.graft__eventfd_new()
		if fd < 0 {
			return -1, fmt.Errorf("capi: eventfd: %w", syscall.Errno(C.graft__errno()))
		}
		e.fd = fd
		e.on.Store(true)
	}
	return e.fd, nil
}

// push queues ev if the host asked for the descriptor. A full queue drops
// its oldest events and begins with one GRAFT_EVENT_OVERFLOW instead.
func (e *eventQueue) push(ev hostEvent) {
	if !e.on.Load() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shut {
		return
	}
	if len(e.q) >= e.limit {
		// Keep the newest limit-2 events: room for the marker and the new
		// one. The marker takes the term of the newest event dropped.
		rest := e.q
		if rest[0].kind == C.GRAFT_EVENT_OVERFLOW {
			rest = rest[1:]
		}
		drop := len(rest) - (e.limit - 2)
		marker := hostEvent{kind: C.GRAFT_EVENT_OVERFLOW, term: rest[drop-1].term}
		e.q = append([]hostEvent{marker}, rest[drop:]...)
	}
	e.q = append(e.q, ev)
	if len(e.q) == 1 {
		C.graft__eventfd_raise(e.fd)
	}
}

// pop removes the oldest event; ok is false when none is queued.
func (e *eventQueue) pop() (ev hostEvent, ok bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shut {
		return ev, false, election.ErrClosed
	}
	if len(e.q) == 0 {
		return ev, false, nil
	}
	ev = e.q[0]
	e.q[0] = hostEvent{}
	e.q = e.q[1:]
	if len(e.q) == 0 {
		e.q = nil // let the backing array go
		C.graft__eventfd_clear(e.fd)
	}
	return ev, true, nil
}

// shutdown discards the queue and closes the descriptor (graft_node_close,
// after the last callback ran). Idempotent.
func (e *eventQueue) shutdown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.on.Store(false)
	e.shut = true
	e.q = nil
	if e.fd >= 0 {
		C.graft__eventfd_close(e.fd)
		e.fd = -1
	}
}

// hook wires the queue and the C callbacks of cb into ec: each event is
// queued first, then passed to the callback, on the node's callback
// goroutine, so the queue and the callbacks carry one sequence.
func (e *eventQueue) hook(ec *election.Config, cb callbacks) {
	ec.OnStateChange = func(from, to election.State, term uint64) {
		e.push(hostEvent{kind: C.GRAFT_EVENT_STATE, from: from, to: to, term: term})
		if cb.state != nil {
			cb.callState(from, to, term)
		}
	}
	ec.OnLeaderChange = func(leader string, term uint64) {
		e.push(hostEvent{kind: C.GRAFT_EVENT_LEADER, term: term, leader: leader})
		if cb.leader != nil {
			cb.callLeader(leader, term)
		}
	}
	ec.OnLease = func(held bool, l election.Lease) {
		kind, deadline := C.graft_event_kind(C.GRAFT_EVENT_LEASE_LOST), monotonicNS(l.Deadline)
		if held {
			kind = C.GRAFT_EVENT_LEASE_ACQUIRED
		}
		e.push(hostEvent{kind: kind, term: l.Term, deadline: deadline})
		if cb.lease != nil {
			cb.callLease(held, l.Term, deadline)
		}
	}
}

// fill writes ev into the caller's graft_event, of which the first size
// bytes are the caller's (size >= sizeof the first graft_event, checked).
func (ev *hostEvent) fill(out *C.graft_event) {
	var c C.graft_event
	n := min(uintptr(out.size), unsafe.Sizeof(c))
	c.size = C.uint32_t(n)
	c.kind = ev.kind
	c.from, c.to = C.graft_state(ev.from), C.graft_state(ev.to)
	c.term = C.uint64_t(ev.term)
	c.deadline_ns = C.uint64_t(ev.deadline)
	leader := unsafe.Slice((*byte)(unsafe.Pointer(&c.leader[0])), len(c.leader))
	leader[copy(leader[:len(leader)-1], ev.leader)] = 0
	copy(unsafe.Slice((*byte)(unsafe.Pointer(out)), n), unsafe.Slice((*byte)(unsafe.Pointer(&c)), n))
}

//export graft__go_node_event_fd
func graft__go_node_event_fd(h *C.graft_node) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := liveNodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	fd, err := nd.events.descriptor()
	switch {
	case errors.Is(err, election.ErrClosed):
		return C.int(codeClosed)
	case err != nil: // no descriptor left (EMFILE): say why through the error callback
		nd.n.ReportError(err)
		return C.int(codeInternal)
	}
	return fd
}

//export graft__go_node_next_event
func graft__go_node_next_event(h *C.graft_node, out *C.graft_event) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := nodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	if out == nil || uintptr(out.size) < eventSizeMin {
		return C.int(codeInval)
	}
	ev, ok, err := nd.events.pop()
	switch {
	case err != nil:
		return C.int(codeOf(err))
	case !ok:
		return 0
	}
	ev.fill(out)
	return 1
}
