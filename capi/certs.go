package main

/*
#include "capi.h"
*/
import "C"

import (
	"errors"
	"io/fs"
	"syscall"
	"unsafe"

	"github.com/graftlib/graft/transport"
)

//export graft__go_generate_certs
func graft__go_generate_certs(dir *C.char, ids **C.char, n C.size_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	if forked() {
		return C.int(codeFork)
	}
	if dir == nil || ids == nil || n == 0 {
		return C.int(codeInval)
	}
	list := make([]string, 0, int(n))
	for _, p := range unsafe.Slice(ids, int(n)) {
		if p == nil {
			return C.int(codeInval)
		}
		list = append(list, C.GoString(p))
	}
	err := transport.GenerateCerts(C.GoString(dir), list)
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case err == nil:
		return C.int(codeOK)
	case errors.As(err, &pathErr), errors.As(err, &errno):
		return C.int(codeStorage)
	}
	return C.int(codeInval) // a bad or repeated id
}
