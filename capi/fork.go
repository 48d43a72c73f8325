package main

/*
#include "capi.h"
*/
import "C"

// forked reports whether this process is a child made by fork() after the
// library was loaded (the flag is set by a pthread_atfork handler, see
// shims.c). The C shims refuse such calls before they enter Go, because
// entering Go in the child can itself hang (the runtime's threads do not
// exist there); this check is the second line, for paths that start in Go.
// Reading the flag is a plain load, no cgo call. The slow paths also
// compare os.Getpid() with the pid recorded when the node started (see
// node.alive).
func forked() bool { return C.graft__forked != 0 }
