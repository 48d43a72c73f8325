package election

// notesKept bounds the errors and log lines a coalescing keeps: the oldest
// beyond it are dropped. Half the queue, so that a coalesced queue has room
// to grow again and the work of coalescing is spread over many pushes.
const notesKept = callbackQueueLimit / 2

// coalesce shrinks a full queue (d.mu held) to what a slow consumer still
// needs, and counts what it drops:
//
//   - state changes merge into one, from the first one's from (the state
//     the application was last told) to the last one's to, with the last
//     term; none if it comes back where it began;
//   - of the leader changes only the last is kept;
//   - lease events stay paired and in order: a gain and the loss after it,
//     both still queued, are dropped together (the application never saw
//     the lease), never one alone; what is left is at most the loss of the
//     lease the application was told of, then a gain still holding;
//   - errors and log lines keep their order, the newest notesKept of them.
//
// The result runs in this order: errors and log lines, the loss, the
// state change, the leader change, the gain (the order the core emits them
// in: a loss before the state change away from leader, a gain after the
// change to leader). Each kept event keeps the time its first merged event
// was queued, so the delays in Stats stay honest.
func (d *dispatcher) coalesce(q []queued) []queued {
	var notes []queued
	var state, leader, lost, gain *queued
	for i := range q {
		e := q[i]
		switch e.e.kind {
		case evState:
			if state == nil {
				state = &e
			} else {
				state.e.to, state.e.term = e.e.to, e.e.term
			}
		case evLeader:
			if leader != nil {
				e.at = leader.at
			}
			leader = &e
		case evLease:
			switch {
			case e.e.held:
				gain = &e
			case gain != nil:
				gain = nil // a gain and its loss, both unseen
			default:
				lost = &e // the loss of the lease the application holds
			}
		default:
			notes = append(notes, e)
		}
	}
	if len(notes) > notesKept {
		notes = notes[len(notes)-notesKept:]
	}
	out := make([]queued, 0, len(notes)+4+callbackQueueLimit/4)
	out = append(out, notes...)
	for _, k := range []*queued{lost, state, leader, gain} {
		if k != nil && (k != state || k.e.from != k.e.to) {
			out = append(out, *k)
		}
	}
	d.dropped.Add(uint64(len(q) - len(out)))
	return out
}

// finalEvents returns what a closing node still runs (d.mu held): of the
// queued events and final (those of the close itself), only the loss of a
// lease the application was told it holds, then final's state change,
// rewritten to start from the state the application was last told, and
// final's log lines. Lease events of final follow the same pairing (a loss
// whose gain is dropped is dropped too).
func (d *dispatcher) finalEvents(q []queued, final []event) []event {
	var kept []event
	if d.toldHeld {
		for _, e := range append(events(q), final...) {
			if e.kind == evLease && !e.held {
				kept = append(kept, e)
				break
			}
		}
	}
	for _, e := range final {
		switch e.kind {
		case evState:
			e.from = d.told
			if e.from != e.to {
				kept = append(kept, e)
			}
		case evLog, evError:
			kept = append(kept, e)
		}
	}
	return kept
}

// events returns the events of q.
func events(q []queued) []event {
	out := make([]event, len(q))
	for i := range q {
		out[i] = q[i].e
	}
	return out
}
