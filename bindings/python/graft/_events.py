"""Events of a node's queue (``graft_event``): EventKind and Event."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

from . import _lib
from ._types import Lease, State


class EventKind(enum.IntEnum):
    """What an :class:`Event` reports (``graft_event_kind``; the numbers are
    the C ABI's, new kinds are appended)."""

    STATE = 1
    """The state changed: ``old``, ``new``, ``term``."""
    LEADER = 2
    """The known leader changed: ``leader`` (None: none known), ``term``."""
    LEASE_ACQUIRED = 3
    """This node holds the lease: ``term`` (the fencing token), ``deadline``."""
    LEASE_LOST = 4
    """It no longer does: ``term`` and ``deadline`` of the lease that ended."""
    OVERFLOW = 5
    """The bounded queue dropped older events: read the state with the
    queries. ``term``: that of the newest event dropped."""


@dataclass(frozen=True)
class Event:
    """One event of :meth:`graft.Node.next_event` and :func:`graft.aio.events`,
    in the order of the callbacks."""

    kind: EventKind
    """What happened."""
    term: int
    """The term of the event (every kind)."""
    old: Optional[State] = None
    """STATE: the state left; None for other kinds."""
    new: Optional[State] = None
    """STATE: the state entered; None for other kinds."""
    leader: Optional[str] = None
    """LEADER: the new leader's id, None when no leader is known (and for
    other kinds)."""
    deadline: Optional[float] = None
    """LEASE_ACQUIRED and LEASE_LOST: the lease's deadline in
    :func:`time.monotonic` seconds; None for other kinds."""
    at: Optional[float] = None
    """The instant the node's core emitted the event (the step or timer of
    the election that produced it; for the events of :meth:`Node.close`,
    the close), in :func:`time.monotonic` seconds like ``deadline``: the
    instant it was read less ``at`` is how late the program learnt of it.
    None for OVERFLOW."""

    @property
    def lease(self) -> Optional[Lease]:
        """LEASE_ACQUIRED and LEASE_LOST: the lease as a :class:`Lease`."""
        return None if self.deadline is None else Lease(self.term, self.deadline)


_STATES = tuple(State)


def _kind(value: int) -> Optional[EventKind]:
    try:
        return EventKind(value)
    except ValueError:
        return None


def event_from(ev: "_lib.graft_event") -> Event:
    """The Event of a filled graft_event. A kind this binding does not know
    (a newer library) reads as OVERFLOW: re-read the state."""
    kind = _kind(ev.kind) or EventKind.OVERFLOW
    at = ev.at_ns / 1e9 if ev.at_ns else None
    if kind is EventKind.STATE:
        return Event(kind, ev.term, old=_STATES[ev.from_], new=_STATES[ev.to], at=at)
    if kind is EventKind.LEADER:
        return Event(kind, ev.term, leader=_lib.decode(ev.leader) or None, at=at)
    if kind in (EventKind.LEASE_ACQUIRED, EventKind.LEASE_LOST):
        return Event(kind, ev.term, deadline=ev.deadline_ns / 1e9, at=at)
    return Event(kind, ev.term)
