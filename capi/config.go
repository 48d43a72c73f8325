package main

/*
#include "capi.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

// config is what a graft_config * stands for: the setters fill it,
// graft_node_new copies it. Safe for concurrent use.
type config struct {
	mu            sync.Mutex
	cluster, id   string
	listen        string
	peers         []peer
	statePath     string
	cert, key, ca string
	heartbeatMS   uint32
	electionMinMS uint32
	electionMaxMS uint32
	drift         float64
	driftSet      bool
	priority      uint32 // graft_config_set_priority; 0 = witness
	prioritySet   bool
	successionMS  uint32 // graft_config_set_succession_delay; 0 = default
	logLevel      int
	cb            callbacks
}

type peer struct{ id, addr string }

// snapshot returns a copy that later setters do not change.
func (c *config) snapshot() config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return config{
		cluster: c.cluster, id: c.id, listen: c.listen,
		peers:     append([]peer(nil), c.peers...),
		statePath: c.statePath, cert: c.cert, key: c.key, ca: c.ca,
		heartbeatMS: c.heartbeatMS, electionMinMS: c.electionMinMS, electionMaxMS: c.electionMaxMS,
		drift: c.drift, driftSet: c.driftSet, logLevel: c.logLevel, cb: c.cb,
		priority: c.priority, prioritySet: c.prioritySet, successionMS: c.successionMS,
	}
}

// withConfig is the body of every setter: it checks the process and the
// handle, then runs set under the config's lock.
func withConfig(h *C.graft_config, set func(c *config) int) C.int {
	if forked() {
		return C.int(codeFork)
	}
	c, code := lookup[*config](configID(h))
	if code != codeOK {
		return C.int(code)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return C.int(set(c))
}

//export graft__go_config_new
func graft__go_config_new(cluster, nodeID, listen *C.char) (h *C.graft_config) {
	defer guard(&h, nil)
	if forked() {
		return nil
	}
	c := &config{cluster: goString(cluster), id: goString(nodeID), listen: goString(listen),
		logLevel: C.GRAFT_LOG_INFO} // debug lines only when asked for
	return C.graft__config_handle(C.uintptr_t(handles.add(c)))
}

//export graft__go_config_add_peer
func graft__go_config_add_peer(h *C.graft_config, nodeID, addr *C.char) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	if nodeID == nil || addr == nil {
		return C.int(codeInval)
	}
	return withConfig(h, func(c *config) int {
		c.peers = append(c.peers, peer{goString(nodeID), goString(addr)})
		return codeOK
	})
}

//export graft__go_config_set_state_path
func graft__go_config_set_state_path(h *C.graft_config, path *C.char) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	if path == nil {
		return C.int(codeInval)
	}
	return withConfig(h, func(c *config) int {
		c.statePath = goString(path)
		return codeOK
	})
}

//export graft__go_config_set_tls
func graft__go_config_set_tls(h *C.graft_config, cert, key, ca *C.char) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	if cert == nil || key == nil || ca == nil {
		return C.int(codeInval)
	}
	return withConfig(h, func(c *config) int {
		c.cert, c.key, c.ca = goString(cert), goString(key), goString(ca)
		return codeOK
	})
}

//export graft__go_config_set_timeouts
func graft__go_config_set_timeouts(h *C.graft_config, heartbeat, electionMin, electionMax C.uint32_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.heartbeatMS, c.electionMinMS, c.electionMaxMS = uint32(heartbeat), uint32(electionMin), uint32(electionMax)
		return codeOK
	})
}

//export graft__go_config_set_max_clock_drift
func graft__go_config_set_max_clock_drift(h *C.graft_config, drift C.double) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.drift, c.driftSet = float64(drift), true
		return codeOK
	})
}

//export graft__go_config_set_priority
func graft__go_config_set_priority(h *C.graft_config, priority C.uint32_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.priority, c.prioritySet = uint32(priority), true
		return codeOK
	})
}

//export graft__go_config_set_succession_delay
func graft__go_config_set_succession_delay(h *C.graft_config, delayMS C.uint32_t) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.successionMS = uint32(delayMS)
		return codeOK
	})
}

//export graft__go_config_set_log_level
func graft__go_config_set_log_level(h *C.graft_config, level C.int) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		if level < C.GRAFT_LOG_DEBUG || level > C.GRAFT_LOG_ERROR {
			return codeInval
		}
		c.logLevel = int(level)
		return codeOK
	})
}

//export graft__go_config_on_state_change
func graft__go_config_on_state_change(h *C.graft_config, fn C.graft_state_fn, ctx unsafe.Pointer) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.cb.state, c.cb.stateCtx = fn, ctx
		return codeOK
	})
}

//export graft__go_config_on_leader_change
func graft__go_config_on_leader_change(h *C.graft_config, fn C.graft_leader_fn, ctx unsafe.Pointer) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.cb.leader, c.cb.leaderCtx = fn, ctx
		return codeOK
	})
}

//export graft__go_config_on_error
func graft__go_config_on_error(h *C.graft_config, fn C.graft_error_fn, ctx unsafe.Pointer) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.cb.err, c.cb.errCtx = fn, ctx
		return codeOK
	})
}

//export graft__go_config_on_log
func graft__go_config_on_log(h *C.graft_config, fn C.graft_log_fn, ctx unsafe.Pointer) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.cb.log, c.cb.logCtx = fn, ctx
		return codeOK
	})
}

//export graft__go_config_on_lease
func graft__go_config_on_lease(h *C.graft_config, fn C.graft_lease_fn, ctx unsafe.Pointer) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.cb.lease, c.cb.leaseCtx = fn, ctx
		return codeOK
	})
}

//export graft__go_config_set_vote_hooks
func graft__go_config_set_vote_hooks(h *C.graft_config, position C.graft_position_fn, grant C.graft_grant_fn, ctx unsafe.Pointer) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	return withConfig(h, func(c *config) int {
		c.cb.position, c.cb.grant, c.cb.hookCtx = position, grant, ctx
		return codeOK
	})
}

//export graft__go_config_free
func graft__go_config_free(h *C.graft_config) {
	defer guard(new(int), 0)
	if h == nil || forked() {
		return
	}
	if _, code := lookup[*config](configID(h)); code == codeOK {
		handles.remove(configID(h))
	}
}
