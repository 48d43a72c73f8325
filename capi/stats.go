package main

/*
#include "capi.h"
*/
import "C"

import "unsafe"

//export graft__go_node_stats
func graft__go_node_stats(h *C.graft_node, out *C.graft_stats) (rc C.int) {
	defer guard(&rc, C.int(codeInternal))
	nd, code := nodeOf(h)
	if code != codeOK {
		return C.int(code)
	}
	if out == nil || out.size < C.size_t(unsafe.Sizeof(out.size)) {
		return C.int(codeInval)
	}
	var s C.graft_stats
	fillStats(&s, nd)
	// Fill what both sides know: the caller's struct may be older
	// (shorter) or newer (longer) than ours.
	n := min(uintptr(out.size), unsafe.Sizeof(s))
	s.size = C.size_t(n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(out)), n), unsafe.Slice((*byte)(unsafe.Pointer(&s)), n))
	return C.int(codeOK)
}

// fillStats copies the election's and the transport's counters.
func fillStats(s *C.graft_stats, nd *node) {
	es := nd.n.Stats()
	s.state = C.int32_t(es.State)
	s.term = C.uint64_t(es.Term)
	putID(s.leader[:], es.Leader)
	s.prevotes_started = C.uint64_t(es.PreVotesStarted)
	s.prevotes_lost = C.uint64_t(es.PreVotesLost)
	s.elections_started = C.uint64_t(es.ElectionsStarted)
	s.elections_won = C.uint64_t(es.ElectionsWon)
	s.leader_changes = C.uint64_t(es.LeaderChanges)
	s.step_downs = C.uint64_t(es.StepDowns)
	s.transfers = C.uint64_t(es.Transfers)
	s.storage_errors = C.uint64_t(es.StorageErrors)
	s.callbacks_queued = C.uint64_t(es.CallbacksQueued)
	s.since_leader_contact_ns = C.int64_t(es.SinceLeaderContact)
	s.callback_delay_last_ns = C.uint64_t(es.CallbackDelayLast)
	s.callback_delay_max_ns = C.uint64_t(es.CallbackDelayMax)
	s.callbacks_dropped = C.uint64_t(es.CallbacksDropped)
	s.rank = C.uint32_t(es.Rank)
	s.priority_takeovers = C.uint64_t(es.PriorityTakeovers)
	putID(s.successor[:], es.Successor)
	for k := 0; k < len(es.Sent) && k < len(s.msgs_sent); k++ {
		s.msgs_sent[k] = C.uint64_t(es.Sent[k])
		s.msgs_received[k] = C.uint64_t(es.Received[k])
		s.msgs_dropped[k] = C.uint64_t(es.Dropped[k])
	}
	ts := nd.tr.Stats()
	s.net_msgs_sent = C.uint64_t(ts.MessagesSent)
	s.net_bytes_sent = C.uint64_t(ts.BytesSent)
	s.net_msgs_received = C.uint64_t(ts.MessagesReceived)
	s.net_bytes_received = C.uint64_t(ts.BytesReceived)
	s.net_reconnects = C.uint64_t(ts.Reconnects)
	d := ts.Dropped
	s.drop_malformed = C.uint64_t(d.Malformed)
	s.drop_wrong_cluster = C.uint64_t(d.WrongCluster)
	s.drop_bad_version = C.uint64_t(d.BadVersion)
	s.drop_oversized = C.uint64_t(d.Oversized)
	s.drop_spoofed_sender = C.uint64_t(d.SpoofedSender)
	s.drop_unknown_peer = C.uint64_t(d.UnknownPeer)
	s.drop_handshake_failed = C.uint64_t(d.HandshakeFailed)
	s.drop_queue_full = C.uint64_t(d.QueueFull)
	s.drop_invalid_packet = C.uint64_t(d.InvalidPacket)
}

// putID copies id into a char[GRAFT_ID_MAX] field, NUL-terminated (ids are
// shorter than the field: the election checks them).
func putID(field []C.char, id string) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&field[0])), len(field))
	b[copy(b[:len(b)-1], id)] = 0
}
