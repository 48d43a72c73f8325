package main

/*
#include <stdlib.h>
#include <string.h>
#include "capi.h"
#include "evq.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/graftlib/graft/election"
)

// eventQueueLimit bounds a node's queue of events for graft_node_next_event.
// Events are a handful per election, so only a host that stopped reading
// reaches it; what it then needs is the current state (the query
// functions), not the history.
const eventQueueLimit = 1024

// eventQueue is the Go side of a node's queue for graft_node_next_event:
// the queue itself is in C (evq.c), so that a host thread pops it without
// entering the Go runtime. Nothing is queued until the host asks for the
// descriptor: a host that does not use it pays one atomic load per event.
// The node's callback goroutine pushes (before it calls the C callback of
// the same event, so both see one sequence); any host thread pops, in C.
type eventQueue struct {
	on    atomic.Bool // the descriptor exists and the node is not closed
	mu    sync.Mutex  // orders push, descriptor and shutdown: c is never freed under a push
	c     *C.graft__evq
	shut  bool // closed with the node: c is gone
	limit int
	// eventAt gives each pushed event the instant its core emitted it
	// (election.Node.EventAt, read on the callback goroutine that pushes).
	// Set by attach before the handle exists, so before any push.
	eventAt func() time.Duration
}

// newEventQueue returns an empty queue of at most limit (>= 2) events.
func newEventQueue(limit int) *eventQueue { return &eventQueue{limit: max(limit, 2)} }

// attach names the node whose callbacks push, for the events' at_ns
// (before the node's handle is handed out: no push can run before).
func (e *eventQueue) attach(n *election.Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.eventAt = n.EventAt
}

// descriptor returns the eventfd of the queue registered under the node's
// handle id, creating both on the first call; from then on events are
// queued.
func (e *eventQueue) descriptor(id uintptr) (C.int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shut {
		return -1, election.ErrClosed
	}
	if e.c == nil {
		var errno C.int
		q := C.graft__evq_new(C.uintptr_t(id), C.int(e.limit), &errno)
		if q == nil {
			return -1, fmt.Errorf("capi: eventfd: %w", syscall.Errno(errno))
		}
		e.c = q
		e.on.Store(true)
	}
	return C.graft__evq_fd(e.c), nil
}

// push queues ev if the host asked for the descriptor.
func (e *eventQueue) push(kind C.graft_event_kind, from, to election.State, term, deadline uint64, leader string) {
	if !e.on.Load() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shut || e.c == nil {
		return
	}
	var at uint64
	if e.eventAt != nil { // push runs on the node's callback goroutine: EventAt is this event's
		at = monotonicNS(e.eventAt())
	}
	// The leader's bytes are read by C during the call only (cgo rules:
	// Go memory without Go pointers, not kept).
	C.graft__evq_push(e.c, C.int(kind), C.int(from), C.int(to), C.uint64_t(term), C.uint64_t(deadline),
		C.uint64_t(at), (*C.char)(unsafe.Pointer(unsafe.StringData(leader))), C.size_t(len(leader)))
}

// pop pops the oldest event of the queue registered under id into out, for
// the calls that shims.c's fast path (graft__evq_pop) could not serve: it
// found no queue under id because the descriptor was never asked for (0),
// because it was created meanwhile (popped here), or because the node is
// closed (ErrClosed).
func (e *eventQueue) pop(id uintptr, out *C.graft_event) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.shut:
		return 0, election.ErrClosed
	case e.c == nil:
		return 0, nil
	}
	return int(C.graft__evq_pop(C.uintptr_t(id), out)), nil
}

// shutdown discards the queue and closes the descriptor (graft_node_close,
// after the last callback ran). Idempotent.
func (e *eventQueue) shutdown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.on.Store(false)
	e.shut = true
	if e.c != nil {
		C.graft__evq_free(e.c)
		e.c = nil
	}
}

// hook wires the queue and the C callbacks of cb into ec: each event is
// queued first, then passed to the callback, on the node's callback
// goroutine, so the queue and the callbacks carry one sequence.
func (e *eventQueue) hook(ec *election.Config, cb callbacks) {
	ec.OnStateChange = func(from, to election.State, term uint64) {
		e.push(C.GRAFT_EVENT_STATE, from, to, term, 0, "")
		if cb.state != nil {
			cb.callState(from, to, term)
		}
	}
	ec.OnLeaderChange = func(leader string, term uint64) {
		e.push(C.GRAFT_EVENT_LEADER, 0, 0, term, 0, leader)
		if cb.leader != nil {
			cb.callLeader(leader, term)
		}
	}
	ec.OnLease = func(held bool, l election.Lease) {
		kind, deadline := C.graft_event_kind(C.GRAFT_EVENT_LEASE_LOST), monotonicNS(l.Deadline)
		if held {
			kind = C.GRAFT_EVENT_LEASE_ACQUIRED
		}
		e.push(kind, 0, 0, l.Term, deadline, "")
		if cb.lease != nil {
			cb.callLease(held, l.Term, deadline)
		}
	}
}

//export graft__go_node_event_fd
func graft__go_node_event_fd(h *C.graft_node) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := liveNodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	fd, err := nd.events.descriptor(nodeID(h))
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
	if out == nil || uintptr(out.size) < C.GRAFT__EVENT_SIZE_MIN {
		return C.int(codeInval)
	}
	n, err := nd.events.pop(nodeID(h), out)
	if err != nil {
		return C.int(codeOf(err))
	}
	return C.int(n)
}

// poppedEvent is what next returns: the fields of one graft_event.
type poppedEvent struct {
	kind, from, to     int
	term, deadline, at uint64
	leader             string
	size               uint32 // the bytes filled
}

// next pops one event of the queue registered under id through the C fast
// path, as graft_node_next_event does, with a caller's struct of size
// bytes (the Go tests' view of evq.c: _test.go files cannot use cgo). rc is
// graft__evq_pop's result.
func (e *eventQueue) next(id uintptr, size uint32) (ev poppedEvent, rc int) {
	full := C.size_t(unsafe.Sizeof(C.graft_event{}))
	out := (*C.graft_event)(C.malloc(full + 64))
	defer C.free(unsafe.Pointer(out))
	// Bytes the caller's size does not cover hold a mark, so that a write
	// past it shows (as at_ns: all bytes 0xa5) instead of hiding as 0.
	C.memset(unsafe.Pointer(out), 0xa5, full+64)
	out.size = C.uint32_t(size)
	rc = int(C.graft__evq_pop(C.uintptr_t(id), out))
	if rc == 1 {
		ev = poppedEvent{kind: int(out.kind), from: int(out.from), to: int(out.to),
			term: uint64(out.term), deadline: uint64(out.deadline_ns), at: uint64(out.at_ns),
			leader: C.GoString(&out.leader[0]), size: uint32(out.size)}
	}
	return ev, rc
}
