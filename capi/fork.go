package main

/*
#include <pthread.h>
#include "capi.h"

__attribute__((visibility("hidden"))) volatile int graft__forked = 0;

static void graft__in_child(void) { graft__forked = 1; }

// Registered when the library is loaded, before any Go code runs, so that
// a fork at any later moment marks the child.
__attribute__((constructor)) static void graft__register_atfork(void) {
	pthread_atfork(NULL, NULL, graft__in_child);
}
*/
import "C"

// forked reports whether this process is a child made by fork() after the
// library was loaded. The Go runtime's threads do not exist in such a
// child, so anything that waits would hang: every export refuses with
// GRAFT_EFORK instead. Reading the flag is a plain load (no cgo call), cheap
// enough for the query functions; the slow paths also compare os.Getpid()
// with the pid recorded when the node started (see node.alive).
func forked() bool { return C.graft__forked != 0 }
