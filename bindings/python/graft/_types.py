"""Value types of the graft API: State, MsgKind, Lease and Stats."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Dict, NamedTuple, Optional


class State(enum.IntEnum):
    """The role a node plays (``graft_state``; the numbers are the C ABI's)."""

    FOLLOWER = 0
    """Follows a leader, or waits for one; votes in elections."""
    CANDIDATE = 1
    """Raised its term and asks the peers for votes."""
    LEADER = 2
    """Elected for its term; acts only while its lease holds (see Node.lease)."""
    CLOSED = 3
    """Closed: final. No callback follows the change to CLOSED."""

    def __str__(self) -> str:
        return self.name.lower()

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class MsgKind(enum.IntEnum):
    """The election's message kinds; keys of the per-kind counters of Stats."""

    PREVOTE = 0
    """A pre-vote request: could this candidate win?"""
    PREVOTE_RESP = 1
    """The answer to a pre-vote request."""
    VOTE = 2
    """A vote request of a candidate that raised its term."""
    VOTE_RESP = 3
    """The answer to a vote request."""
    HEARTBEAT = 4
    """The leader's periodic heartbeat (renews its lease)."""
    HEARTBEAT_RESP = 5
    """A follower's answer to a heartbeat."""
    TIMEOUT_NOW = 6
    """Leadership transfer: the leader asks a peer to campaign at once."""


class Lease(NamedTuple):
    """A leader's lease: act as leader only until ``deadline``.

    ``term`` is the fencing token: pass it to the resource the leader writes,
    which should refuse writes carrying an older term. ``deadline`` is in
    :func:`time.monotonic` seconds (CLOCK_MONOTONIC, the library's clock).
    """

    term: int
    deadline: float

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once it passed)."""
        return self.deadline - time.monotonic()

    def valid(self) -> bool:
        """Whether the deadline has not passed yet."""
        return time.monotonic() < self.deadline


@dataclass(frozen=True)
class Stats:
    """A snapshot of a node's counters (``graft_stats``). Counters only grow,
    except the gauges ``callbacks_queued``, ``since_leader_contact``,
    ``callback_delay_last``, ``rank`` and ``successor``."""

    state: State
    """The node's state."""
    term: int
    """The current term (the fencing token)."""
    leader: Optional[str]
    """The known leader's id, None when none is known."""
    prevotes_started: int
    """Pre-vote rounds begun."""
    prevotes_lost: int
    """Pre-vote rounds a majority refused."""
    elections_started: int
    """Real elections begun (the term raised)."""
    elections_won: int
    """Elections won."""
    leader_changes: int
    """Times a new (leader, term) became known."""
    step_downs: int
    """Leaderships ended by check-quorum."""
    transfers: int
    """Leaderships handed over (step_down, close)."""
    storage_errors: int
    """Failed saves of the term and vote."""
    callbacks_queued: int
    """Gauge: callbacks waiting to run."""
    since_leader_contact: Optional[float]
    """Seconds since a leader was last heard from; 0.0 on the leader, None if never."""
    msgs_sent: Dict[MsgKind, int]
    """Election messages handed to the transport, by kind."""
    msgs_received: Dict[MsgKind, int]
    """Election messages received and accepted, by kind."""
    msgs_dropped: Dict[MsgKind, int]
    """Election messages dropped (refused, inbox full, invalid), by kind."""
    net_msgs_sent: int
    """Messages handed to QUIC."""
    net_bytes_sent: int
    """Bytes handed to QUIC."""
    net_msgs_received: int
    """Messages delivered to the election."""
    net_bytes_received: int
    """Bytes delivered to the election."""
    net_reconnects: int
    """Connections re-established to a peer."""
    drop_malformed: int
    """Inbound: not a well-formed message."""
    drop_wrong_cluster: int
    """Inbound: names another cluster."""
    drop_bad_version: int
    """Inbound: unknown wire version."""
    drop_oversized: int
    """Inbound: larger than the size limit."""
    drop_spoofed_sender: int
    """Inbound: sender differs from its certificate."""
    drop_unknown_peer: int
    """Inbound: valid certificate, but the id is not a peer."""
    drop_handshake_failed: int
    """Inbound: TLS handshake failed (another CA, no certificate)."""
    drop_queue_full: int
    """Outbound: the queue to a peer was full."""
    drop_invalid_packet: int
    """Inbound: a UDP datagram that is no QUIC packet."""
    callback_delay_last: float
    """Gauge: seconds by which the callback running now (or, between
    callbacks, the last one run) started late, from the moment the library
    queued it right after the election event to the moment it called into
    the binding (ctypes' own cost, about 10 µs, comes on top). A callback that
    calls ``stats()`` reads its own. A slow callback delays the ones after
    it and shows here. 0.0 before the first callback."""
    callback_delay_max: float
    """The largest ``callback_delay_last`` so far, in seconds."""
    callbacks_dropped: int = 0
    """Callbacks never run: coalesced away when the node's queue (at most
    256) was full (a slow consumer is told the latest state and leader, the
    lease events still paired), or still queued when the node was closed
    (a close runs no backlog)."""
    rank: int = 0
    """Gauge: this follower's place in the succession as its leader last told
    it (1 campaigns first when the leader goes silent); 0 when none is known
    (no leader, a leader of an older term), on a leader and on a witness."""
    successor: Optional[str] = None
    """Gauge: on a leader, the follower it ranks first; None when none can
    lead, and on the other nodes."""
    priority_takeovers: int = 0
    """Handovers this node made, as leader, to a follower of higher
    priority (see ``Node(priority=)``)."""
