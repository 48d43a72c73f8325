package main

/*
#include <stdlib.h>
#include "capi.h"

// Go cannot call a C function pointer: these trampolines do. They are
// static inline because the preamble of a file is compiled into more than
// one C file.
static inline void graft__call_state(graft_state_fn fn, void *ctx, int from, int to, uint64_t term) {
	fn(ctx, (graft_state)from, (graft_state)to, term);
}
static inline void graft__call_leader(graft_leader_fn fn, void *ctx, const char *leader, uint64_t term) {
	fn(ctx, leader, term);
}
static inline void graft__call_error(graft_error_fn fn, void *ctx, int code, const char *msg) {
	fn(ctx, code, msg);
}
static inline void graft__call_log(graft_log_fn fn, void *ctx, int level, const char *msg) {
	fn(ctx, level, msg);
}
static inline void graft__call_lease(graft_lease_fn fn, void *ctx, int held, uint64_t term, uint64_t deadline_ns) {
	fn(ctx, held, term, deadline_ns);
}
static inline size_t graft__call_position(graft_position_fn fn, void *ctx, uint8_t *buf, size_t cap) {
	return fn(ctx, buf, cap);
}
static inline int graft__call_grant(graft_grant_fn fn, void *ctx, const uint8_t *pos, size_t len) {
	return fn(ctx, pos, len);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/graftlib/graft/election"
)

// callbacks are the C function pointers of a config with their contexts.
// ctx pointers are the caller's (C memory or an opaque value): Go only
// hands them back.
type callbacks struct {
	state     C.graft_state_fn
	stateCtx  unsafe.Pointer
	leader    C.graft_leader_fn
	leaderCtx unsafe.Pointer
	err       C.graft_error_fn
	errCtx    unsafe.Pointer
	log       C.graft_log_fn
	logCtx    unsafe.Pointer
	lease     C.graft_lease_fn
	leaseCtx  unsafe.Pointer
	position  C.graft_position_fn
	grant     C.graft_grant_fn
	hookCtx   unsafe.Pointer
}

func (cb *callbacks) callState(from, to election.State, term uint64) {
	C.graft__call_state(cb.state, cb.stateCtx, C.int(from), C.int(to), C.uint64_t(term))
}

func (cb *callbacks) callLeader(leader string, term uint64) {
	s := C.CString(leader)
	defer C.free(unsafe.Pointer(s))
	C.graft__call_leader(cb.leader, cb.leaderCtx, s, C.uint64_t(term))
}

func (cb *callbacks) callError(err error) {
	s := C.CString(err.Error())
	defer C.free(unsafe.Pointer(s))
	C.graft__call_error(cb.err, cb.errCtx, C.int(codeOf(err)), s)
}

func (cb *callbacks) callLog(level election.LogLevel, msg string) {
	s := C.CString(msg)
	defer C.free(unsafe.Pointer(s))
	C.graft__call_log(cb.log, cb.logCtx, C.int(level), s)
}

func (cb *callbacks) callLease(held bool, term, deadlineNS uint64) {
	h := C.int(0)
	if held {
		h = 1
	}
	C.graft__call_lease(cb.lease, cb.leaseCtx, h, C.uint64_t(term), C.uint64_t(deadlineNS))
}

// errPositionTooLong is reported when the position hook claims more bytes
// than the buffer holds.
var errPositionTooLong = errors.New("capi: the position hook returned more than GRAFT_POSITION_MAX bytes")

// callPosition runs the position hook with a C buffer of
// GRAFT_POSITION_MAX bytes and returns a Go copy of what it wrote.
func (cb *callbacks) callPosition() ([]byte, error) {
	const size = C.GRAFT_POSITION_MAX
	buf := (*C.uint8_t)(C.malloc(size))
	defer C.free(unsafe.Pointer(buf))
	n := C.graft__call_position(cb.position, cb.hookCtx, buf, size)
	if n > size {
		return nil, fmt.Errorf("%w (%d)", errPositionTooLong, uint64(n))
	}
	return C.GoBytes(unsafe.Pointer(buf), C.int(n)), nil
}

// callGrant runs the grant hook on a C copy of pos.
func (cb *callbacks) callGrant(pos []byte) bool {
	var p *C.uint8_t
	if len(pos) > 0 {
		p = (*C.uint8_t)(C.CBytes(pos))
		defer C.free(unsafe.Pointer(p))
	}
	return C.graft__call_grant(cb.grant, cb.hookCtx, p, C.size_t(len(pos))) != 0
}
