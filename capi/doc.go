// Command capi is libgraft: the C API of graft (include/graft.h), built
// with -buildmode=c-shared or c-archive. It holds cgo glue only, no
// election logic.
//
// The public graft_* functions are C shims (shims.c), compiled against the
// full graft.h so that the compiler checks every prototype. Each refuses in
// a forked child before entering Go (entering the Go runtime there can
// hang), then calls its Go export graft__go_<name>. Every export recovers
// panics first (guard), checks the handle (handles), then delegates to
// package election and package transport. libgraft.map keeps the Go
// exports and the runtime out of the shared library's dynamic symbols.
//
// Files follow the header's sections: config.go, node.go, stats.go,
// certs.go, errors.go (codes, error mapping); handles.go is the handle
// table, trampolines.go the calls into C function pointers, fork.go the
// fork flag, clock.go the lease deadline conversion, log.go the routing of
// Go's process-wide log. testhooks.go (GRAFT_TEST_* variables) is compiled
// only into the test build (tag grafttest, `make lib-test`); the released
// library uses testhooks_release.go, which ignores them.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -Wall
*/
import "C"
