package main

/*
#include "capi.h"
*/
import "C"

import "fmt"

// version is graft.h's GRAFT_VERSION_*, as a C string that lives forever.
var version = C.CString(fmt.Sprintf("%d.%d.%d", C.GRAFT_VERSION_MAJOR, C.GRAFT_VERSION_MINOR, C.GRAFT_VERSION_PATCH))

//export graft_version
func graft_version() (v *C.char) {
	defer guard(&v, version)
	return version
}

// main is required by -buildmode=c-shared and c-archive; it never runs.
func main() {}
