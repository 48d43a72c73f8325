package main

import (
	"bytes"
	"fmt"
	"log"

	"github.com/graftlib/graft/election"
)

// Lines written process-wide through Go's standard logger (quic-go's
// receive-buffer warning, for one) belong to no node: they go to every
// live node that has a log callback, through that node's callback thread,
// or to stderr when there is none. The host cannot reach Go's logger
// otherwise, and the library must not write to its stderr behind its back.
func init() {
	log.SetFlags(0)
	log.SetOutput(globalWriter{})
}

type globalWriter struct{}

func (globalWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		logGlobal(election.LogWarn, string(line))
	}
	return len(p), nil
}

// logGlobal sends a process-wide line to the nodes with a log callback.
func logGlobal(level election.LogLevel, msg string) {
	delivered := false
	handles.each(func(v any) {
		if nd, ok := v.(*node); ok && nd.cb.log != nil {
			nd.n.Log(level, msg)
			delivered = true
		}
	})
	if !delivered {
		fmt.Fprintf(stderr, "graft: %s: %s\n", level, msg)
	}
}
