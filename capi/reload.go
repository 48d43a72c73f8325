package main

/*
#include "capi.h"
*/
import "C"

//export graft__go_node_reload_tls
func graft__go_node_reload_tls(h *C.graft_node, errbuf *C.char, errlen C.size_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := liveNodeOf(h)
	if code != codeOK {
		return failf(errbuf, errlen, code, "graft: reload_tls: %s", C.GoString(C.graft_strerror(C.int(code))))
	}
	if err := nd.tr.ReloadTLS(); err != nil {
		return failf(errbuf, errlen, codeOf(err), "%v", err)
	}
	writeErr(errbuf, errlen, "")
	return C.int(codeOK)
}
