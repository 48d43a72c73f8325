package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

// node is what a graft_node * stands for.
type node struct {
	n   *election.Node
	tr  *transport.QUIC
	cb  callbacks
	pid int // the process that started the node
	// events is the queue of graft_node_event_fd; the election's state,
	// leader and lease callbacks feed it (see eventQueue.hook).
	events *eventQueue
}

// alive reports whether the calling process may use the node: not a child
// forked after the library was loaded (see forked) nor after the node
// started. os.Getpid is a system call, so only the slow paths use it.
func (nd *node) alive() bool { return !forked() && os.Getpid() == nd.pid }

// nodeOf checks the process and the handle of a query or command.
func nodeOf(h *C.graft_node) (*node, int) {
	if forked() {
		return nil, codeFork
	}
	return lookup[*node](nodeID(h))
}

// liveNodeOf is nodeOf for a command that must run in the process that
// created the node (close, step down, the event descriptor): GRAFT_EFORK
// from a fork child.
func liveNodeOf(h *C.graft_node) (*node, int) {
	nd, code := nodeOf(h)
	if code == codeOK && !nd.alive() {
		return nil, codeFork
	}
	return nd, code
}

// ms converts a millisecond setting; 0 keeps the default.
func ms(v uint32, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return time.Duration(v) * time.Millisecond
}

// relay passes the transport's log lines and the C layer's errors to the
// node through election.Node.Log and ReportError, in order with the node's
// own callbacks. Lines logged before the node exists (transport.New runs
// before election.New) wait for it.
type relay struct {
	mu      sync.Mutex
	n       *election.Node
	pending []string
}

func (l *relay) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.pending = append(l.pending, msg)
		return
	}
	l.n.Log(election.LogInfo, msg)
}

// report passes err to the node's error callback (dropped before the node
// exists: nothing reports before election.New returns).
func (l *relay) report(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n != nil {
		l.n.ReportError(err)
	}
}

func (l *relay) attach(n *election.Node) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n = n
	for _, msg := range l.pending {
		n.Log(election.LogInfo, msg)
	}
	l.pending = nil
}

// electionConfig builds the election's configuration from a config
// snapshot, with the C callbacks and the event queue q wired in. The
// election calls the On* callbacks on its dispatcher goroutine, one at a
// time and in order, which is what graft.h promises; the hooks run on
// helper goroutines.
func electionConfig(c *config, q *eventQueue) election.Config {
	ec := election.DefaultConfig()
	ec.Cluster, ec.ID, ec.StatePath = c.cluster, c.id, c.statePath
	for _, p := range c.peers {
		ec.Peers = append(ec.Peers, p.id)
	}
	ec.Heartbeat = ms(c.heartbeatMS, election.DefaultHeartbeat)
	ec.ElectionMin = ms(c.electionMinMS, election.DefaultElectionMin)
	ec.ElectionMax = ms(c.electionMaxMS, election.DefaultElectionMax)
	if c.driftSet {
		ec.MaxClockDrift = c.drift
	}
	if c.prioritySet { // priority 0 is the C API's witness
		ec.Priority, ec.Witness = c.priority, c.priority == 0
	}
	ec.SuccessionDelay = ms(c.successionMS, 0)
	cb := c.cb
	q.hook(&ec, cb) // state, leader and lease: to the queue, then to C
	if cb.err != nil {
		ec.OnError = cb.callError
	}
	if cb.log != nil {
		ec.OnLog = cb.callLog
		ec.LogLevel = election.LogLevel(c.logLevel)
	}
	if cb.position != nil {
		ec.CurrentPosition = func() []byte {
			pos, err := cb.callPosition()
			if err != nil {
				// Abandon the campaign: the election treats a hook that
				// panics like one that does not return in time, and
				// reports it as a HookError (GRAFT_EHOOK) with err.
				panic(err)
			}
			return pos
		}
	}
	if cb.grant != nil {
		ec.GrantVote = cb.callGrant
	}
	return ec
}

// checkConfig reports what election.Config.Validate does not see: the
// transport's settings.
func checkConfig(c *config) error {
	switch {
	case c.listen == "":
		return errors.New("config: listen address is empty")
	case c.cert == "" || c.key == "" || c.ca == "":
		return errors.New("config: TLS files not set: call graft_config_set_tls (graft_generate_certs makes development certificates)")
	case c.prioritySet && c.priority == 0 && len(c.peers) == 0:
		// The election cannot see the peers' settings; a lone witness is
		// the one cluster without a possible leader a node can see.
		return errors.New("config: priority 0 (a witness) without peers: a cluster needs a node that can lead")
	}
	for _, p := range c.peers {
		if p.addr == "" {
			return fmt.Errorf("config: peer %q has an empty address", p.id)
		}
	}
	return nil
}

//export graft__go_node_new
func graft__go_node_new(h *C.graft_config, out **C.graft_node, errbuf *C.char, errlen C.size_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	if out != nil {
		*out = nil
	}
	if forked() {
		return failf(errbuf, errlen, codeFork, "graft: the process was forked after the library was loaded: the library cannot be used in the child")
	}
	if out == nil {
		return failf(errbuf, errlen, codeInval, "graft: out is NULL")
	}
	src, code := lookup[*config](configID(h))
	if code != codeOK {
		return failf(errbuf, errlen, code, "graft: config: %s", C.GoString(C.graft_strerror(C.int(code))))
	}
	c := src.snapshot()

	rl := &relay{}
	q := newEventQueue(eventQueueLimit)
	ec := electionConfig(&c, q)
	applyTestHooks(&ec)
	if err := ec.Validate(); err != nil {
		return failf(errbuf, errlen, codeInval, "%v", err)
	}
	if err := checkConfig(&c); err != nil {
		return failf(errbuf, errlen, codeInval, "graft: %v", err)
	}
	peers := make(map[string]string, len(c.peers))
	for _, p := range c.peers {
		peers[p.id] = p.addr
	}
	tr, err := transport.New(transport.Config{
		Cluster: c.cluster, ID: c.id, Listen: c.listen, Peers: peers,
		CertFile: c.cert, KeyFile: c.key, CAFile: c.ca,
		Logf: rl.logf,
	})
	if err != nil {
		return failf(errbuf, errlen, codeOf(err), "%v", err)
	}
	en, err := election.New(ec, tr) // closes tr on failure
	if err != nil {
		code := codeOf(err)
		if code == codeInternal {
			code = codeInval
		}
		return failf(errbuf, errlen, code, "%v", err)
	}
	rl.attach(en)
	q.attach(en)
	nd := &node{n: en, tr: tr, cb: c.cb, pid: os.Getpid(), events: q}
	*out = C.graft__node_handle(C.uintptr_t(handles.add(nd)))
	return C.int(codeOK)
}

//export graft__go_node_close
func graft__go_node_close(h *C.graft_node) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	if h == nil {
		return C.int(codeOK)
	}
	nd, code := liveNodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	// Close waits for the callbacks; from the node's own callback it
	// returns ErrBusy at once and does nothing; from another node's it
	// waits for none (the final ones may run after: they push nothing into
	// the shut queue below, and call the C callbacks, whose ctx graft.h
	// keeps alive until the change to GRAFT_CLOSED).
	if err := nd.n.Close(); errors.Is(err, election.ErrBusy) {
		return C.int(codeBusy)
	}
	nd.events.shutdown() // after the last callback: nothing pushes any more
	// An error of the transport's Close (a socket that failed to close)
	// leaves nothing to do: the node is stopped either way.
	if !handles.remove(nodeID(h)) {
		return C.int(codeClosed) // a concurrent close won
	}
	return C.int(codeOK)
}

//export graft__go_node_state
func graft__go_node_state(h *C.graft_node) (s C.graft_state) {
	defer guard(&s, C.GRAFT_CLOSED)
	nd, code := nodeOf(h)
	if code != codeOK {
		return C.GRAFT_CLOSED
	}
	return C.graft_state(nd.n.State())
}

//export graft__go_node_term
func graft__go_node_term(h *C.graft_node) (t C.uint64_t) {
	defer guard(&t, 0)
	nd, code := nodeOf(h)
	if code != codeOK {
		return 0
	}
	return C.uint64_t(nd.n.Term())
}

//export graft__go_node_leader
func graft__go_node_leader(h *C.graft_node, buf *C.char, size C.size_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := nodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	if buf == nil {
		return C.int(codeInval)
	}
	if size == 0 {
		return C.int(codeRange)
	}
	if !copyCString(buf, size, nd.n.Leader()) {
		*buf = 0
		return C.int(codeRange)
	}
	return C.int(codeOK)
}

//export graft__go_node_is_leader
func graft__go_node_is_leader(h *C.graft_node) (rc C.int) {
	defer guard(&rc, 0)
	nd, code := nodeOf(h)
	if code != codeOK || !nd.n.IsLeader() {
		return 0
	}
	return 1
}

//export graft__go_node_lease
func graft__go_node_lease(h *C.graft_node, term, deadline *C.uint64_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := nodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	if term == nil || deadline == nil {
		return C.int(codeInval)
	}
	*term, *deadline = 0, 0
	t, until, ok := nd.n.Lease()
	if !ok {
		return 0
	}
	*term, *deadline = C.uint64_t(t), C.uint64_t(monotonicNS(until))
	return 1
}

//export graft__go_node_wait_lease
func graft__go_node_wait_lease(h *C.graft_node, timeoutMS C.int, term, deadline *C.uint64_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := nodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	if term == nil || deadline == nil || timeoutMS < -1 {
		return C.int(codeInval)
	}
	if !nd.alive() {
		return C.int(codeFork)
	}
	*term, *deadline = 0, 0
	ctx := context.Background()
	if timeoutMS >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutMS)*time.Millisecond)
		defer cancel()
	}
	lease, err := nd.n.WaitLease(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return 0
	case err != nil:
		return C.int(codeOf(err))
	}
	*term, *deadline = C.uint64_t(lease.Term), C.uint64_t(monotonicNS(lease.Deadline))
	return 1
}

//export graft__go_node_step_down
func graft__go_node_step_down(h *C.graft_node) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := liveNodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	return C.int(codeOf(nd.n.StepDown()))
}
