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

// maxCertID is the longest id graft_generate_certs takes: its key file
// <id>-key.pem must fit the 255-byte file name limit (NAME_MAX) of Linux
// filesystems. Ids of 248-253 characters are valid node ids, but used to
// fail half-way with GRAFT_ESTORAGE; they are refused before any file is
// written.
const maxCertID = 255 - len("-key.pem")

//export graft__go_generate_certs
func graft__go_generate_certs(dir *C.char, ids **C.char, n C.size_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return generateCerts(dir, "", ids, n)
}

//export graft__go_generate_cluster_certs
func graft__go_generate_cluster_certs(dir, cluster *C.char, ids **C.char, n C.size_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	if cluster == nil || *cluster == 0 {
		return C.int(codeInval)
	}
	return generateCerts(dir, C.GoString(cluster), ids, n)
}

// generateCerts is graft_generate_certs, with the node certificates bound
// to cluster unless it is "" (transport.GenerateClusterCerts).
func generateCerts(dir *C.char, cluster string, ids **C.char, n C.size_t) C.int {
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
		id := C.GoString(p)
		if len(id) > maxCertID {
			return C.int(codeInval)
		}
		list = append(list, id)
	}
	err := transport.GenerateClusterCerts(C.GoString(dir), cluster, list)
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case err == nil:
		return C.int(codeOK)
	case errors.As(err, &pathErr), errors.As(err, &errno):
		return C.int(codeStorage)
	}
	return C.int(codeInval) // a bad or repeated id, a bad cluster name
}
