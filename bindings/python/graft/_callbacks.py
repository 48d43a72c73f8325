"""The callbacks: from the library's threads into Python.

Callback protocol
-----------------
The callbacks given to :class:`Node` (``on_state_change``, ``on_leader_change``,
``on_lease``, ``on_error``, ``on_log``) are plain callables. The library calls them on a
thread of its own, one at a time per node and in the order the events happened,
with the GIL taken (ctypes does that). They may call the node's queries and
:meth:`Node.step_down`, but :meth:`Node.close` of their own node raises
:class:`BusyError` (close would wait for the callback itself). They may close
another node: that close stops the node without waiting for its callbacks (two
callbacks closing each other's node would otherwise wait for each other
forever); its callback running then and its final ones (the change to
``State.CLOSED`` last) may run after close returned, so its ctypes callbacks
are kept for the life of the process. The library queues at most 256
callbacks per node: a slow callback makes it coalesce the rest (the latest
state and leader, the lease events still paired), and a close drops what is
still queued but the lease's loss and the change to ``State.CLOSED``
(``Stats.callbacks_dropped`` counts both). A callback that
takes long delays the node's later callbacks, never the election; one waiting
for the GIL while the main thread runs Python code is late by milliseconds.

Every exception a callback raises (any ``BaseException``, ``SystemExit``
included) is caught and reported through :mod:`logging` (logger ``"graft"``)
with its traceback: it never reaches the library, never stops the node, and
never ends the process. The ctypes callback objects are kept by the module
from before ``graft_node_new`` runs until :meth:`Node.close` has returned
(after which the library promises no call), so the library can never call
freed memory, not even for a node whose construction was interrupted.
"""

from __future__ import annotations

import ctypes
import logging
import weakref
from typing import Any, Callable, Optional, Tuple

from . import _lib
from ._errors import GraftError, error_for
from ._owner import _enter, _leave
from ._types import Lease, State

_log = logging.getLogger("graft")

StateCallback = Callable[[State, State, int], Any]
LeaderCallback = Callable[[Optional[str], int], Any]
ErrorCallback = Callable[[GraftError], Any]
LogCallback = Callable[[int, str], Any]
LeaseCallback = Callable[[bool, Lease], Any]
PositionHook = Callable[[], bytes]
GrantHook = Callable[[bytes], bool]

_STATES = tuple(State)  # index by the C value: cheaper than State(value)
_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


def _report(what: str, node_id: str) -> None:
    """Log the exception being handled in a callback (never raises)."""
    try:
        _log.exception("graft: exception in %s callback of node %s (ignored)", what, node_id)
    except BaseException:  # noqa: BLE001 - a broken logging setup must not reach C
        pass


def make_callbacks(node: Any) -> Tuple[Any, Any, Any, Any]:
    """The four ctypes trampolines of ``node`` (a :class:`graft.Node`; typed
    Any, since importing _node here would make an import cycle). They hold
    only a weak reference to the node (so that an unreferenced node can be
    collected and closed) and catch every exception."""
    ref = weakref.ref(node)
    node_id = node._id

    def on_state(_ctx: Any, old: int, new: int, term: int) -> None:
        if not _enter():
            return _leave()
        try:
            node = ref()
            if node is not None:
                node._state_event(old, new, term)
        except BaseException:  # noqa: BLE001 - never let it reach C
            _report("on_state_change", node_id)
        finally:
            _leave()

    def on_leader(_ctx: Any, leader: Optional[bytes], term: int) -> None:
        if not _enter():
            return _leave()
        try:
            node = ref()
            if node is not None:
                node._leader_event(_lib.decode(leader) or None, term)
        except BaseException:  # noqa: BLE001
            _report("on_leader_change", node_id)
        finally:
            _leave()

    def on_error(_ctx: Any, code: int, message: Optional[bytes]) -> None:
        if not _enter():
            return _leave()
        try:
            node = ref()
            err = error_for(code, _lib.decode(message) or None)
            if node is not None and node._on_error is not None:
                node._on_error(err)
            else:
                _log.warning("node %s: %s (%s)", node_id, err.message, type(err).__name__,
                             extra={"graft_node": node_id})
        except BaseException:  # noqa: BLE001
            _report("on_error", node_id)
        finally:
            _leave()

    def on_log(_ctx: Any, level: int, message: Optional[bytes]) -> None:
        if not _enter():
            return _leave()
        try:
            node = ref()
            pylevel = _LOG_LEVELS[level] if 0 <= level < len(_LOG_LEVELS) else logging.WARNING
            if node is not None and node._on_log is not None:
                node._on_log(pylevel, _lib.decode(message))
            elif _log.isEnabledFor(pylevel):
                _log.log(pylevel, "%s", _lib.decode(message), extra={"graft_node": node_id})
        except BaseException:  # noqa: BLE001
            _report("on_log", node_id)
        finally:
            _leave()

    return (_lib.STATE_FN(on_state), _lib.LEADER_FN(on_leader),
            _lib.ERROR_FN(on_error), _lib.LOG_FN(on_log))


def make_hooks(node: Any, on_lease: Optional[LeaseCallback], position: Optional[PositionHook],
               grant: Optional[GrantHook]) -> Tuple[Any, Any, Any]:
    """The lease trampoline and the vote hooks; NULL function pointers
    for those not given (no callback crosses into Python for nothing)."""
    ref = weakref.ref(node)
    node_id = node._id
    lease_fn = position_fn = grant_fn = None

    if on_lease is not None:
        def lease_fn(_ctx: Any, held: int, term: int, deadline_ns: int) -> None:
            if not _enter():
                return _leave()
            try:
                node = ref()
                if node is not None and node._on_lease is not None:
                    node._on_lease(bool(held), Lease(term, deadline_ns / 1e9))
            except BaseException:  # noqa: BLE001 - never let it reach C
                _report("on_lease", node_id)
            finally:
                _leave()

    if position is not None:
        def position_fn(_ctx: Any, buf: Any, cap: int) -> int:
            try:
                data = bytes(position())
                if len(data) > cap:
                    _log.error("graft: current_position of node %s returned %d bytes, more than %d: "
                               "campaign abandoned", node_id, len(data), cap)
                    return cap + 1  # refused by the library
                ctypes.memmove(buf, data, len(data))
                return len(data)
            except BaseException:  # noqa: BLE001
                _report("current_position", node_id)
                return cap + 1  # abandon the campaign, as a late hook does

    if grant is not None:
        def grant_fn(_ctx: Any, pos: Any, n: int) -> int:
            try:
                return 1 if grant(ctypes.string_at(pos, n) if n else b"") else 0
            except BaseException:  # noqa: BLE001
                _report("grant_vote", node_id)
                return 0

    return (_lib.LEASE_FN(lease_fn) if lease_fn else _lib.LEASE_FN(),
            _lib.POSITION_FN(position_fn) if position_fn else _lib.POSITION_FN(),
            _lib.GRANT_FN(grant_fn) if grant_fn else _lib.GRANT_FN())
