// Command capi is libgraft: the C API of graft (include/graft.h), built
// with -buildmode=c-shared or c-archive. It holds cgo glue only: every
// //export carries the exact C name, recovers panics first (guard), checks
// the process (forked) and the handle (handles), then delegates to package
// election and package transport. No election logic lives here.
//
// Files follow the header's sections: config.go, node.go, stats.go,
// certs.go, errors.go (codes and strerror), version.go; handles.go is the
// handle table, trampolines.go the calls into C function pointers, fork.go
// the fork detection, clock.go the lease deadline conversion, log.go the
// routing of Go's process-wide log.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -Wall
*/
import "C"
