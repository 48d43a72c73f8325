package main

/*
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

// The return codes of graft.h, taken from the header itself so that the
// compiler keeps them equal.
const (
	codeOK        = int(C.GRAFT_OK)
	codeInval     = int(C.GRAFT_EINVAL)
	codeClosed    = int(C.GRAFT_ECLOSED)
	codeStorage   = int(C.GRAFT_ESTORAGE)
	codeTLS       = int(C.GRAFT_ETLS)
	codeNetwork   = int(C.GRAFT_ENETWORK)
	codeRange     = int(C.GRAFT_ERANGE)
	codeBusy      = int(C.GRAFT_EBUSY)
	codeNotLeader = int(C.GRAFT_ENOTLEADER)
	codeFork      = int(C.GRAFT_EFORK)
	codeInternal  = int(C.GRAFT_EINTERNAL)
	codeNoPeer    = int(C.GRAFT_ENOPEER)
	codeHook      = int(C.GRAFT_EHOOK)
)

// errorCodes lists every code with its graft.h name; codes_test.go checks
// it against the header's enum and graft_strerror's table in shims.c.
var errorCodes = []struct {
	code int
	name string
}{
	{codeOK, "GRAFT_OK"},
	{codeInval, "GRAFT_EINVAL"},
	{codeClosed, "GRAFT_ECLOSED"},
	{codeStorage, "GRAFT_ESTORAGE"},
	{codeTLS, "GRAFT_ETLS"},
	{codeNetwork, "GRAFT_ENETWORK"},
	{codeRange, "GRAFT_ERANGE"},
	{codeBusy, "GRAFT_EBUSY"},
	{codeNotLeader, "GRAFT_ENOTLEADER"},
	{codeFork, "GRAFT_EFORK"},
	{codeInternal, "GRAFT_EINTERNAL"},
	{codeNoPeer, "GRAFT_ENOPEER"},
	{codeHook, "GRAFT_EHOOK"},
}

// codeOf maps an error of the election or the transport to a return code.
func codeOf(err error) int {
	var (
		cfgErr   *election.ConfigError
		hookErr  *election.HookError
		stErr    *election.StorageError
		trCfgErr *transport.ConfigError
		certErr  *transport.CertError
		dropErr  *transport.DropError
		opErr    *net.OpError
		errno    syscall.Errno
	)
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, election.ErrBusy):
		return codeBusy
	case errors.Is(err, election.ErrClosed), errors.Is(err, transport.ErrClosed):
		return codeClosed
	case errors.Is(err, election.ErrNotLeader):
		return codeNotLeader
	case errors.Is(err, election.ErrNoTransferTarget):
		return codeNoPeer
	case errors.As(err, &hookErr):
		return codeHook
	case errors.As(err, &stErr):
		return codeStorage
	case errors.As(err, &certErr), errors.Is(err, transport.ErrHandshakeFailed):
		return codeTLS
	case errors.As(err, &cfgErr):
		return codeInval
	case errors.As(err, &trCfgErr):
		// A well-formed address that cannot be bound (in use, not local,
		// no permission) is a network failure; the rest is a bad argument.
		if errors.As(err, &opErr) || errors.As(err, &errno) {
			return codeNetwork
		}
		return codeInval
	case errors.As(err, &dropErr), errors.As(err, &opErr), errors.As(err, &errno):
		return codeNetwork
	}
	return codeInternal
}

// guard is deferred first by every export: it turns a Go panic into the
// failure value of the export (GRAFT_EINTERNAL for the int returns) and
// reports it, because an unrecovered panic would kill the host process.
func guard[T any](result *T, failed T) {
	if p := recover(); p != nil {
		*result = failed
		reportPanic(p)
	}
}

// reportPanic writes a recovered panic to the process-wide log (see log.go).
func reportPanic(p any) {
	logGlobal(election.LogError, fmt.Sprintf("graft: internal error (recovered panic): %v\n%s", p, debug.Stack()))
}

// writeErr copies msg into the caller's errbuf, truncated and
// NUL-terminated. A NULL buffer or a zero length is ignored.
func writeErr(buf *C.char, size C.size_t, msg string) {
	if buf == nil || size == 0 {
		return
	}
	copyCString(buf, size, msg)
}

// copyCString writes s and a NUL into the size bytes at buf, truncating s
// if needed; it reports whether s fit whole.
func copyCString(buf *C.char, size C.size_t, s string) bool {
	dst := cbytes(buf, size)
	n := copy(dst[:len(dst)-1], s)
	dst[n] = 0
	return n == len(s)
}

// failf is the common end of an export that fails with a message: the
// message goes to errbuf (when there is one) and the code is returned.
func failf(buf *C.char, size C.size_t, code int, format string, args ...any) C.int {
	writeErr(buf, size, fmt.Sprintf(format, args...))
	return C.int(code)
}

// stderr is where process-wide lines go when no node has a log callback.
var stderr = os.Stderr
