package main

/*
#include "capi.h"
*/
import "C"

import "unsafe"

// cbytes views the n bytes of C memory at p as a slice (no copy).
func cbytes(p *C.char, n C.size_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// goString copies a C string; NULL is "".
func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// configID and nodeID turn a handle into its table id (never dereferenced).
func configID(c *C.graft_config) uintptr { return uintptr(unsafe.Pointer(c)) }
func nodeID(n *C.graft_node) uintptr     { return uintptr(unsafe.Pointer(n)) }
