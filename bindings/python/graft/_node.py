"""graft.Node: one member of a cluster, running inside this process.

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

Ctrl-C and exit
---------------
A KeyboardInterrupt can arrive at any instant, also while ``Node()`` runs. The
library writes the new handle straight into an object the module already holds,
so a node is owned from the instant it exists: whatever is raised afterwards,
the half-built node is closed when it is collected (or at exit), never left
running with nobody holding its port and state file.

:meth:`Node.close` on the main thread waits in 50 ms slices, so Ctrl-C raises
KeyboardInterrupt at once even while a callback of the node runs: the node's
election and sockets stop all the same (a close waits for nothing else), and
the close finishes on a thread of its own once the running callback returns.

At interpreter exit every node still open is closed, all at once, and the exit
waits at most :data:`EXIT_TIMEOUT` seconds for callbacks still running; a
Ctrl-C during the exit stops the wait at once. Either way every node's election
and sockets have stopped, and callbacks that return later call nothing of
yours. ``Node()`` raises :class:`ClosedError` once the exit began (a node
started by a callback then would never be closed).

fork()
------
The Go runtime inside libgraft does not survive ``fork()``. A node records the
process id that created it; any use of it in a forked child raises
:class:`ForkError` at once, instead of hanging, and so does creating a node or
certificates in a child of the process that loaded the library. The check is
made in Python before any call: the library answers ``GRAFT_EFORK`` in a child
too (also mapped to ForkError), but merely entering the Go runtime there can
hang when fork() caught a runtime lock held. Start nodes in processes made with ``multiprocessing``'s
``'spawn'`` (or ``'forkserver'``) start method, or with :mod:`subprocess`.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import math
import os
import re
import signal
import sys
import threading
import time
import weakref
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

from . import _lib
from ._errors import ClosedError, ConfigError, ErrorCode, GraftError, check, error_for, raise_fork
from ._events import Event, event_from
from ._lib import lib
from ._types import Lease, MsgKind, State, Stats

__all__ = ["Node", "generate_certs", "tls_files"]

_log = logging.getLogger("graft")

PathLike = Union[str, "os.PathLike[str]"]
StateCallback = Callable[[State, State, int], Any]
LeaderCallback = Callable[[Optional[str], int], Any]
ErrorCallback = Callable[[GraftError], Any]
LogCallback = Callable[[int, str], Any]
LeaseCallback = Callable[[bool, Lease], Any]
PositionHook = Callable[[], bytes]
GrantHook = Callable[[bytes], bool]

_STATES = tuple(State)  # index by the C value: cheaper than State(value)
_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


def _graft_log_level(level: Optional[int], on_log: object) -> int:
    """The graft_log_level for a :mod:`logging` level (see Node's log_level).

    Each line that crosses into Python costs a callback that waits for the
    GIL, and it delays the node's later callbacks: ask for no more than is
    shown."""
    if level is None:
        level = logging.INFO if on_log is not None else _log.getEffectiveLevel()
    if not isinstance(level, int) or isinstance(level, bool):
        raise ConfigError(ErrorCode.EINVAL, f"graft: log_level must be a logging level (int), not {level!r}")
    return sum(1 for pl in _LOG_LEVELS[1:] if level >= pl)
_WAIT_SLICE = 0.05  # seconds: how long wait_for_leader blocks at a time
_ERRBUF = 1024
# graft_generate_certs writes <id>-key.pem, which must fit a 255-byte name.
_CERT_ID_MAX = 247

# The names graft_generate_cluster_certs takes (for the message of a bad one).
_CLUSTER_NAME = re.compile(rb"[A-Za-z0-9._-]{1,253}")


class _Owner:
    """One node's C handle and the ctypes callbacks the library may call
    while it lives.

    ``graft_node_new`` writes the handle into ``box``, which this owner
    holds, and the owner is in ``_open`` before the call: so no exception,
    KeyboardInterrupt included, raised at any point after the call can leave
    a node that nobody holds, and the callbacks stay referenced until
    ``graft_node_close`` has returned, even when the :class:`Node` itself is
    collected half-built. The owner holds no reference to the Node (the
    callbacks hold a weak one), so an unreferenced Node is still collected.
    """

    __slots__ = ("box", "callbacks")

    def __init__(self, callbacks: Tuple[Any, ...]) -> None:
        self.box = _lib.node_p()  # NULL until graft_node_new succeeds
        self.callbacks = callbacks

    @property
    def handle(self) -> Optional[int]:
        return self.box.value

    def close(self) -> int:
        """graft_node_close, once it returns 0 or ECLOSED (a concurrent close
        won, and returns only once the node stopped too) the handle and the
        callbacks are let go. Returns the library's code (0 if not open)."""
        h = self.box.value
        rc = lib.graft_node_close(h) if h is not None else 0
        if rc in (0, ErrorCode.ECLOSED):
            self.box.value = None
            if h is not None and _in_callback():
                # From a callback: the library did not wait for this node's
                # callbacks, which may still run (graft.h, CALLBACKS).
                _lingering.append(self.callbacks)
            self.callbacks = ()  # the library calls none of them any more
            _open.discard(self)
        return rc


# Every node that may exist, with its callbacks: closed at interpreter exit
# (before Python tears down what a late callback would need), so that a
# leader hands over cleanly and no half-built node outlives the program.
_open: "set[_Owner]" = set()

# The ctypes callbacks of nodes closed from a callback of another node: the
# library did not wait for their callbacks, which may still run, and nobody
# can tell when the last one returned, so they are kept for good.
_lingering: "list[Tuple[Any, ...]]" = []

EXIT_TIMEOUT = 5.0
"""Seconds the interpreter's exit waits for the callbacks of the nodes it
closes (each close stops its node's election and sockets at once, then waits
for the node's running callback)."""

_exit = threading.Event()  # set once the exit hook began: no new node
_exit_done = False  # the exit hook is over: callbacks call nothing of ours

# How many of this module's callbacks the current thread is inside: a close
# from there does not wait for the closed node's callbacks.
_inside = threading.local()


def _in_callback() -> bool:
    return getattr(_inside, "depth", 0) > 0


def _enter() -> bool:
    """Count the current thread into a callback; False once the interpreter
    exit is over (the callback must then call nothing)."""
    _inside.depth = getattr(_inside, "depth", 0) + 1
    return not _exit_done


def _leave() -> None:
    _inside.depth -= 1


def _quiet_close(owner: "_Owner") -> None:
    try:
        owner.close()
    except BaseException:  # noqa: BLE001 - exit must go on
        pass


def _close_all_at_exit() -> None:
    """Close every open node, all at once, each on a thread of its own, and
    wait at most EXIT_TIMEOUT for them; a Ctrl-C stops the wait. Nodes that
    callbacks start meanwhile are refused (Node() raises ClosedError)."""
    global _exit_done
    if os.getpid() != _lib.load_pid:
        return  # a fork child: the library cannot run here
    _exit.set()
    interrupted = threading.Event()
    previous = None
    try:  # Ctrl-C: stop waiting, never an exception out of the hook
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    except (ValueError, OSError):
        pass  # not the main thread: a KeyboardInterrupt is caught below
    try:
        deadline = time.monotonic() + EXIT_TIMEOUT
        closers: "dict[_Owner, threading.Thread]" = {}
        while not interrupted.is_set():
            for owner in list(_open):
                if owner not in closers:
                    t = threading.Thread(target=_quiet_close, args=(owner,), name="graft-exit-close", daemon=True)
                    closers[owner] = t
                    try:
                        t.start()
                    except RuntimeError:  # no thread at this point of the exit
                        _quiet_close(owner)
            alive = [t for t in closers.values() if t.is_alive()]
            if not alive and not (_open - closers.keys()):
                break
            if time.monotonic() >= deadline:
                _log.warning("graft: exit waited %.1f s for the callbacks of %d node(s): leaving them running",
                             EXIT_TIMEOUT, len(alive))
                break
            if alive:
                alive[0].join(_WAIT_SLICE)
    except BaseException:  # noqa: BLE001 - a KeyboardInterrupt: exit goes on
        pass
    finally:
        _exit_done = True
        if previous is not None:
            try:
                signal.signal(signal.SIGINT, previous)
            except (ValueError, OSError, TypeError):
                pass


atexit.register(_close_all_at_exit)


def _ms(value: object, what: str) -> int:
    """Seconds (int or float) to whole milliseconds for the C API, >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(ErrorCode.EINVAL, f"graft: {what} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(ErrorCode.EINVAL, f"graft: {what} must be a positive number of seconds, not {value!r}")
    ms = round(value * 1000)
    if ms < 1:
        raise ConfigError(ErrorCode.EINVAL, f"graft: {what} ({value!r} s) is below the 1 ms resolution")
    if ms > 0xFFFFFFFF:
        raise ConfigError(ErrorCode.EINVAL, f"graft: {what} ({value!r} s) is too large")
    return ms


def _callable(fn: object, what: str) -> None:
    if fn is not None and not callable(fn):
        raise ConfigError(ErrorCode.EINVAL, f"graft: {what} must be callable or None, not {fn!r}")


def _report(what: str, node_id: str) -> None:
    """Log the exception being handled in a callback (never raises)."""
    try:
        _log.exception("graft: exception in %s callback of node %s (ignored)", what, node_id)
    except BaseException:  # noqa: BLE001 - a broken logging setup must not reach C
        pass


class Node:
    """A member of a graft cluster, running in this process.

    The node joins the election as soon as it is created (as a follower) and
    runs until :meth:`close`. Use it as a context manager to close it on exit::

        with graft.Node("prod", "n1", "127.0.0.1:7001",
                        peers={"n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003"},
                        state_path="/var/lib/app/n1.graft",
                        tls=graft.tls_files("certs", "n1")) as node:
            leader = node.wait_for_leader(5.0)
            lease = node.lease()
            if lease is not None and lease.valid():
                do_leader_work(fencing_token=lease.term)

    Args:
        cluster: the cluster's name; nodes of other clusters are refused.
        node_id: this node's id, unique in the cluster and the name in its
            certificate: 1-253 characters of ``A-Z a-z 0-9 . _ -``, not
            starting with ``.`` or ``-``, not ``"ca"``.
        listen: the UDP ``"host:port"`` to listen on.
        peers: every other member, ``{node_id: "host:port"}`` (static).
        state_path: the file persisting the term and vote (required; created
            if missing, its folder must exist and be writable; a corrupt file
            is a :class:`StorageError`, never a silent reset). A symlink is
            followed once, at start. The node locks the file (``<file>.lock``
            beside it) until it is closed or the process ends: a second node
            on the same file, here or in another process, gets a
            :class:`StorageError` naming the holder's pid.
        tls: ``(cert, key, ca)`` PEM files for mutual TLS (required);
            :func:`generate_certs` and :func:`tls_files` make them for tests.
        heartbeat: seconds between a leader's heartbeats (None: the
            library's default, 0.05).
        election_timeout: ``(min, max)`` seconds a follower waits without a
            leader before it campaigns (None: the library's default,
            ``(0.3, 0.45)``); ``min`` is also the leader lease. Needs
            ``min >= 3 * heartbeat`` and ``max > min``. Only the timings
            given are sent to the library; the others keep its defaults.
        max_clock_drift: bound on clock rate error, 0.01 = 1% (the default);
            the lease is shortened by it. None or 0 keeps the default (the
            margin cannot be turned off).
        on_state_change: ``fn(old: State, new: State, term: int)`` on every
            change of state; the last one is the change to ``State.CLOSED``.
        on_leader_change: ``fn(leader: str | None, term: int)`` when the known
            leader changes (None: no leader known).
        on_error: ``fn(error: GraftError)`` with problems the node cannot fix
            itself (state file unwritable, peer TLS failures, unreachable
            peers); rate limited. Default: logged as warnings on ``"graft"``.
        on_log: ``fn(level: int, message: str)`` with the node's log lines,
            ``level`` a :mod:`logging` level. Default: logged on ``"graft"``
            (each record carries the node id as ``record.graft_node``).
        log_level: the least severe :mod:`logging` level the library passes
            up; lines below it are never formatted nor cross into Python.
            None: ``logging.INFO`` with ``on_log``, otherwise the effective
            level of the ``"graft"`` logger when the node starts.
        on_lease: ``fn(held: bool, lease: Lease)`` when this node starts to
            hold the lease (``held`` True) and when it stops (False: the
            deadline passed without renewal, step-down, a higher term,
            close), with the lease gained or lost. Every loss follows
            exactly one gain of the same term; the loss is due at the
            deadline itself. This, not the change to ``State.LEADER``, is
            the signal to start and stop leader work; the callback may run
            a little after the deadline (waiting for the GIL), so check
            ``lease.valid()`` before acting.
        current_position: ``fn() -> bytes``, this node's position in the
            application's data (a log index, say), sent with every vote
            request; at most 1024 bytes (longer, or an exception, abandons
            the campaign). Runs on a library thread and must return within
            the heartbeat interval (a late answer abandons the campaign).
        grant_vote: ``fn(position: bytes) -> bool``, whether a candidate at
            ``position`` may get this node's vote (refuse candidates that are
            behind). Same thread and time bound; late, an exception or a
            false value refuse the vote.

    Raises:
        ConfigError: a bad argument (also a ValueError), naming the field.
        StorageError: the state file is corrupt or unreadable, its folder
            cannot be written, or another node holds it.
        TLSError: a certificate, key or CA file is missing or unsuitable.
        NetworkError: the listen address cannot be bound.
        ForkError: called in a fork() child of a process that loaded graft.
    """

    def __init__(
        self,
        cluster: str,
        node_id: str,
        listen: str,
        *,
        peers: Optional[Mapping[str, str]] = None,
        state_path: Optional[PathLike] = None,
        tls: Optional[Tuple[PathLike, PathLike, PathLike]] = None,
        heartbeat: Optional[float] = None,
        election_timeout: Optional[Tuple[float, float]] = None,
        max_clock_drift: Optional[float] = None,
        on_state_change: Optional[StateCallback] = None,
        on_leader_change: Optional[LeaderCallback] = None,
        on_error: Optional[ErrorCallback] = None,
        on_log: Optional[LogCallback] = None,
        log_level: Optional[int] = None,
        on_lease: Optional[LeaseCallback] = None,
        current_position: Optional[PositionHook] = None,
        grant_vote: Optional[GrantHook] = None,
    ) -> None:
        # Set first: __del__ and close() must work on a half-made node.
        self._owner: Optional[_Owner] = None
        self._pid = os.getpid()
        self._id = node_id if isinstance(node_id, str) else repr(node_id)
        self._cond = threading.Condition()
        self._events = 0  # counts state and leader events, under _cond
        self._event_fd: Optional[int] = None
        self._close_listeners: "list[Callable[[], Any]]" = []
        _lib.ensure()  # ForkError before anything else calls the library
        if _exit.is_set():
            raise ClosedError(ErrorCode.ECLOSED, f"graft: node {self._id}: the interpreter is exiting: no new node")

        raw_cluster = _lib.encode(cluster, "cluster")
        raw_id = _lib.encode(node_id, "node_id")
        raw_listen = _lib.encode(listen, "listen")
        raw_peers = []
        if peers is not None:
            if not isinstance(peers, Mapping):
                raise ConfigError(ErrorCode.EINVAL, f"graft: peers must be a dict {{id: 'host:port'}}, not {peers!r}")
            for pid_, addr in peers.items():
                raw_peers.append((_lib.encode(pid_, "peer id"), _lib.encode(addr, f"address of peer {pid_!r}")))
        raw_state = _lib.encode(state_path, "state_path") if state_path is not None else None
        raw_tls = None
        if tls is not None:
            if isinstance(tls, (str, bytes, os.PathLike)) or len(tls) != 3:
                raise ConfigError(ErrorCode.EINVAL, f"graft: tls must be (cert, key, ca) files, not {tls!r}")
            raw_tls = tuple(_lib.encode(f, name) for f, name in zip(tls, ("tls cert", "tls key", "tls ca")))
        # 0 keeps the library's default (graft_config_set_timeouts).
        hb_ms = _ms(heartbeat, "heartbeat") if heartbeat is not None else 0
        emin_ms = emax_ms = 0
        if election_timeout is not None:
            if isinstance(election_timeout, (str, bytes)) or not isinstance(election_timeout, Sequence) \
                    or len(election_timeout) != 2:
                raise ConfigError(ErrorCode.EINVAL,
                                  f"graft: election_timeout must be (min, max) seconds, not {election_timeout!r}")
            emin_ms = _ms(election_timeout[0], "election_timeout min")
            emax_ms = _ms(election_timeout[1], "election_timeout max")
        if max_clock_drift is not None and (isinstance(max_clock_drift, bool)
                                            or not isinstance(max_clock_drift, (int, float))):
            raise ConfigError(ErrorCode.EINVAL, f"graft: max_clock_drift must be a number, not {max_clock_drift!r}")
        for fn, what in ((on_state_change, "on_state_change"), (on_leader_change, "on_leader_change"),
                         (on_error, "on_error"), (on_log, "on_log"), (on_lease, "on_lease"),
                         (current_position, "current_position"), (grant_vote, "grant_vote")):
            _callable(fn, what)
        self._on_state_change = on_state_change
        self._on_leader_change = on_leader_change
        self._on_error = on_error
        self._on_log = on_log
        self._on_lease = on_lease

        cfg = lib.graft_config_new(raw_cluster, raw_id, raw_listen)
        if not cfg:  # only in a forked child, which the line above catches
            raise error_for(ErrorCode.EINTERNAL, "graft: graft_config_new failed")
        try:
            for pid_, addr in raw_peers:
                check(lib.graft_config_add_peer(cfg, pid_, addr))
            if raw_state is not None:
                check(lib.graft_config_set_state_path(cfg, raw_state))
            if raw_tls is not None:
                check(lib.graft_config_set_tls(cfg, *raw_tls))
            if hb_ms or emin_ms:
                check(lib.graft_config_set_timeouts(cfg, hb_ms, emin_ms, emax_ms))
            if max_clock_drift is not None:
                check(lib.graft_config_set_max_clock_drift(cfg, float(max_clock_drift)))
            callbacks = self._make_callbacks()
            state_fn, leader_fn, error_fn, log_fn = callbacks
            lease_fn, position_fn, grant_fn = hooks = self._make_hooks(on_lease, current_position, grant_vote)
            callbacks += hooks
            check(lib.graft_config_on_state_change(cfg, state_fn, None))
            check(lib.graft_config_on_leader_change(cfg, leader_fn, None))
            check(lib.graft_config_on_error(cfg, error_fn, None))
            check(lib.graft_config_on_log(cfg, log_fn, None))
            check(lib.graft_config_on_lease(cfg, lease_fn, None))
            check(lib.graft_config_set_vote_hooks(cfg, position_fn, grant_fn, None))
            check(lib.graft_config_set_log_level(cfg, _graft_log_level(log_level, on_log)))
            # Owned before the node starts: the library may call the
            # callbacks from the moment graft_node_new begins, and writes the
            # handle into the owner's box (see _Owner).
            owner = _Owner(callbacks)
            self._owner = owner
            _open.add(owner)
            errbuf = ctypes.create_string_buffer(_ERRBUF)
            rc = lib.graft_node_new(cfg, ctypes.byref(owner.box), errbuf, _ERRBUF)
            if rc != 0:
                _open.discard(owner)
            check(rc, _lib.decode(errbuf.value))
        finally:
            lib.graft_config_free(cfg)

    # ----------------------------------------------------------------- callbacks

    def _make_callbacks(self) -> Tuple[Any, Any, Any, Any]:
        """The four ctypes trampolines. They hold only a weak reference to the
        node (so that an unreferenced node can be collected and closed) and
        catch every exception."""
        ref = weakref.ref(self)
        node_id = self._id

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

    def _notify(self) -> None:
        with self._cond:
            self._events += 1
            self._cond.notify_all()

    def _state_event(self, old: int, new: int, term: int) -> None:
        self._notify()
        if self._on_state_change is not None:
            self._on_state_change(_STATES[old], _STATES[new], term)

    def _leader_event(self, leader: Optional[str], term: int) -> None:
        self._notify()
        if self._on_leader_change is not None:
            self._on_leader_change(leader, term)

    def _make_hooks(self, on_lease: Optional[LeaseCallback], position: Optional[PositionHook],
                    grant: Optional[GrantHook]) -> Tuple[Any, Any, Any]:
        """The lease trampoline and the vote hooks; NULL function pointers
        for those not given (no callback crosses into Python for nothing)."""
        ref = weakref.ref(self)
        node_id = self._id
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

    # ------------------------------------------------------------------- helpers

    @property
    def _handle(self) -> Optional[int]:
        """The C handle; None before it exists and once closed."""
        owner = getattr(self, "_owner", None)
        return None if owner is None else owner.handle

    def _live_handle(self) -> int:
        """The C handle, after the fork and closed checks."""
        if os.getpid() != self._pid:
            raise_fork()
        h = self._handle
        if h is None:
            raise ClosedError(ErrorCode.ECLOSED, f"graft: node {self._id} is closed")
        return h

    # ------------------------------------------------------------------- queries

    @property
    def id(self) -> str:
        """This node's id."""
        return self._id

    @property
    def state(self) -> State:
        """The node's current state; ``State.CLOSED`` once closed. Never blocks."""
        if os.getpid() != self._pid:
            raise_fork()
        h = self._handle
        if h is None:
            return State.CLOSED
        return _STATES[lib.graft_node_state(h)]

    @property
    def term(self) -> int:
        """The current term, the fencing token: it only grows. Never blocks."""
        return int(lib.graft_node_term(self._live_handle()))

    @property
    def leader(self) -> Optional[str]:
        """The id of the leader this node follows (its own id on the leader),
        None when no leader is known. Never blocks."""
        h = self._live_handle()
        buf = ctypes.create_string_buffer(_lib.ID_MAX)
        check(lib.graft_node_leader(h, buf, _lib.ID_MAX))
        return _lib.decode(buf.value) or None

    @property
    def is_leader(self) -> bool:
        """True only while this node leads and its lease holds; False once
        closed. Under the configured clock drift no two nodes of a cluster
        answer True at the same instant. Never blocks."""
        if os.getpid() != self._pid:
            raise_fork()
        h = self._handle
        return h is not None and lib.graft_node_is_leader(h) == 1

    def lease(self) -> Optional[Lease]:
        """``Lease(term, deadline)`` if this node leads now, else None.

        ``deadline`` is in :func:`time.monotonic` seconds: stop acting as the
        leader by then, and call again for a later deadline (heartbeats renew
        it). ``term`` is the fencing token.
        """
        h = self._live_handle()
        term = ctypes.c_uint64()
        deadline = ctypes.c_uint64()
        if check(lib.graft_node_lease(h, ctypes.byref(term), ctypes.byref(deadline))) != 1:
            return None
        return Lease(term.value, deadline.value / 1e9)

    def stats(self) -> Stats:
        """A snapshot of the node's counters. Never blocks."""
        h = self._live_handle()
        s = _lib.graft_stats()
        s.size = ctypes.sizeof(s)
        check(lib.graft_node_stats(h, ctypes.byref(s)))
        kinds = tuple(MsgKind)

        def per_kind(arr: Any) -> dict:
            return {k: int(arr[k]) for k in kinds}

        since = s.since_leader_contact_ns
        return Stats(
            state=_STATES[s.state] if 0 <= s.state < len(_STATES) else State.CLOSED,
            term=s.term,
            leader=_lib.decode(s.leader) or None,
            prevotes_started=s.prevotes_started,
            prevotes_lost=s.prevotes_lost,
            elections_started=s.elections_started,
            elections_won=s.elections_won,
            leader_changes=s.leader_changes,
            step_downs=s.step_downs,
            transfers=s.transfers,
            storage_errors=s.storage_errors,
            callbacks_queued=s.callbacks_queued,
            since_leader_contact=None if since < 0 else since / 1e9,
            msgs_sent=per_kind(s.msgs_sent),
            msgs_received=per_kind(s.msgs_received),
            msgs_dropped=per_kind(s.msgs_dropped),
            net_msgs_sent=s.net_msgs_sent,
            net_bytes_sent=s.net_bytes_sent,
            net_msgs_received=s.net_msgs_received,
            net_bytes_received=s.net_bytes_received,
            net_reconnects=s.net_reconnects,
            drop_malformed=s.drop_malformed,
            drop_wrong_cluster=s.drop_wrong_cluster,
            drop_bad_version=s.drop_bad_version,
            drop_oversized=s.drop_oversized,
            drop_spoofed_sender=s.drop_spoofed_sender,
            drop_unknown_peer=s.drop_unknown_peer,
            drop_handshake_failed=s.drop_handshake_failed,
            drop_queue_full=s.drop_queue_full,
            drop_invalid_packet=s.drop_invalid_packet,
            callback_delay_last=s.callback_delay_last_ns / 1e9,
            callback_delay_max=s.callback_delay_max_ns / 1e9,
            callbacks_dropped=s.callbacks_dropped,
        )

    # ------------------------------------------------------------------ commands

    def wait_for_leader(self, timeout: Optional[float] = None) -> str:
        """Wait until a leader is known and return its id.

        Waits in Python, in slices of at most 50 ms, so Ctrl-C raises
        KeyboardInterrupt at once. ``timeout`` is in seconds (None: forever).

        Raises:
            TimeoutError: no leader became known within ``timeout``.
            ClosedError: the node is (or gets) closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._events
            leader = self.leader
            if leader is not None:
                return leader
            wait = _WAIT_SLICE
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"graft: node {self._id} knows no leader after {timeout} s")
                wait = min(wait, left)
            with self._cond:
                if self._events == seen:
                    self._cond.wait(wait)

    def wait_lease(self, timeout: Optional[float] = None) -> Optional[Lease]:
        """Wait until this node holds the lease and return it (at once if it
        holds it now); None when ``timeout`` seconds passed first (None:
        no limit).

        Waits in slices of at most 50 ms, so Ctrl-C raises KeyboardInterrupt
        at once. The lease may end right after the return: check
        ``lease.valid()`` (or :meth:`lease`) before each piece of work.

        Raises:
            ClosedError: the node is (or gets) closed, also from another thread.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        term = ctypes.c_uint64()
        until = ctypes.c_uint64()
        while True:
            slice_s = _WAIT_SLICE
            if deadline is not None:
                slice_s = min(slice_s, max(deadline - time.monotonic(), 0.0))
            rc = check(lib.graft_node_wait_lease(self._live_handle(), int(slice_s * 1000),
                                                 ctypes.byref(term), ctypes.byref(until)))
            if rc == 1:
                return Lease(term.value, until.value / 1e9)
            if deadline is not None and time.monotonic() >= deadline:
                return None

    # --------------------------------------------------------------- event loops

    def fileno(self) -> int:
        """A descriptor that is readable while events of this node are
        queued (for :mod:`selectors`, ``loop.add_reader``, ``select``); read
        them with :meth:`next_event`. Events are queued from the first call
        on: read the state with the queries after it. The node owns the
        descriptor: never read or close it, and unregister it before
        :meth:`close`, which closes it. :mod:`graft.aio` does all this.

        Raises:
            ClosedError: the node is closed.
        """
        h = self._live_handle()
        fd = self._event_fd
        if fd is None:
            fd = self._event_fd = check(lib.graft_node_event_fd(h))
        return fd

    def next_event(self) -> Optional[Event]:
        """The oldest queued event (see :meth:`fileno`), or None when none is
        queued. Never blocks. The events are those of the callbacks, in the
        same order: state and leader changes, lease acquired and lost, and
        ``EventKind.OVERFLOW`` when the bounded queue dropped older events
        (then read the state with the queries).

        Raises:
            ClosedError: the node is closed.
        """
        ev = _lib.graft_event()
        ev.size = ctypes.sizeof(ev)
        if check(lib.graft_node_next_event(self._live_handle(), ctypes.byref(ev))) != 1:
            return None
        return event_from(ev)

    def _after_close(self, fn: Callable[[], Any]) -> None:
        """Call fn (from the closing thread) once the node is closed; at
        once if it is. graft.aio uses it to wake its readers."""
        with self._cond:
            if self._handle is not None:
                self._close_listeners.append(fn)
                return
        fn()

    def step_down(self) -> None:
        """Hand the leadership over to the most recently heard peer, which
        campaigns at once (a new leader in about one round trip). The lease
        ends before this returns. Waits only briefly.

        Raises:
            NotLeaderError: this node does not lead.
            NoPeerError: no peer answered recently enough; still leading.
        """
        check(lib.graft_node_step_down(self._live_handle()))

    def reload_tls(self) -> None:
        """Read the certificate, key and CA files of ``tls`` again now and
        use them for every connection made from now on (connections up stay
        as they are). The node does this by itself within about 2 s of a
        change of the files (a bad file then goes to ``on_error`` with
        ``ErrorCode.ETLS``); call this after writing new files to learn at
        once whether they are good. They are checked as at start: the key
        matches the certificate, which names this node, is valid now, is
        bound to no other cluster and chains to a CA of the CA file. The CA
        file may hold several CAs, so a cluster rotates its CA without a
        leader change: add the new CA to every node's CA file, reissue the
        node certificates, then remove the old CA.

        Raises:
            TLSError: a file is missing, unreadable or unsuitable; the
                message names it. The node keeps the files it used.
            ClosedError: the node is closed.
            ForkError: called in a fork() child.
        """
        errbuf = ctypes.create_string_buffer(_ERRBUF)
        rc = lib.graft_node_reload_tls(self._live_handle(), errbuf, _ERRBUF)
        check(rc, _lib.decode(errbuf.value))

    def close(self) -> None:
        """Stop the node: a leader first hands over to a reachable peer
        (waiting at most the minimum election timeout), then the final
        change to ``State.CLOSED`` is delivered and no callback runs again.
        Idempotent: closing a closed node does nothing.

        Callbacks still queued are dropped (but the lease's loss and the
        change to ``State.CLOSED``): a close waits only for the callback
        running. On the main thread it waits in 50 ms slices, so Ctrl-C
        raises KeyboardInterrupt at once; the node's election and sockets
        stop all the same, and the close completes on a thread of its own.
        From a callback of another node it does not wait for this node's
        callbacks (see the module's notes).

        Raises:
            BusyError: called from a callback of this node (close it from
                another thread); nothing is done.
            ForkError: called in a fork() child.
        """
        if os.getpid() != self._pid:
            raise_fork()
        owner = self._owner
        if owner is None or owner.handle is None:
            return
        if threading.current_thread() is not threading.main_thread() or _in_callback():
            self._close(owner)
            return
        outcome: "list[Optional[BaseException]]" = []

        def run() -> None:
            try:
                self._close(owner)
                outcome.append(None)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                outcome.append(e)

        t = threading.Thread(target=run, name="graft-close", daemon=True)
        try:
            t.start()
        except RuntimeError:  # no new thread (interpreter shutdown)
            self._close(owner)
            return
        while t.is_alive():
            t.join(_WAIT_SLICE)  # Ctrl-C raises here; the close goes on
        if outcome and outcome[0] is not None:
            raise outcome[0]

    def _close(self, owner: _Owner) -> None:
        """close's work, on whichever thread waits for it."""
        rc = owner.close()
        # ECLOSED: a concurrent close won; it returns only once stopped too.
        if rc != ErrorCode.ECLOSED:
            check(rc)
        self._notify()
        with self._cond:
            listeners, self._close_listeners = self._close_listeners, []
        for fn in listeners:
            fn()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A last resort: close() or a with-block is the way. Never in a fork
        # child (the library cannot run there), never during interpreter
        # shutdown (the exit hook closed every node before).
        # Also the way a node whose construction was interrupted is closed.
        owner = getattr(self, "_owner", None)
        if owner is None or getattr(self, "_pid", None) != os.getpid() or sys.is_finalizing():
            return
        if owner.close() == ErrorCode.EBUSY:
            # Collected inside one of its own callbacks: close it from a
            # thread of ours (_open keeps the trampolines alive until then).
            threading.Thread(target=owner.close, name="graft-close", daemon=True).start()

    def __repr__(self) -> str:
        try:
            state = self.state.name.lower()
        except GraftError:
            state = "forked"
        return f"<graft.Node {self._id} {state}>"


def generate_certs(directory: PathLike, ids: Iterable[str], cluster: Optional[str] = None) -> None:
    """Write a development CA and one certificate per node id into
    ``directory`` (created if missing): ``ca.pem``, ``ca-key.pem``,
    ``<id>.pem`` and ``<id>-key.pem`` (keys mode 0600). An existing CA in the
    folder is reused. For tests and demos; production certificates come from
    your own CA (each node's certificate names its id as a DNS SAN).

    With ``cluster``, each certificate is also bound to that cluster (the
    name given to :class:`Node`): it names ``graft://CLUSTER/ID`` as a URI
    SAN, and nodes of a cluster of another name refuse it, even when the
    clusters share the CA. Without, certificates are accepted by any cluster
    of the CA.

    Node ids may have up to 253 characters, but here at most 247: the file
    name ``<id>-key.pem`` must fit the 255-byte limit.

    Raises:
        ConfigError: no ids, a bad, repeated or too long id, or a cluster
            name that is empty or has a character other than A-Z a-z 0-9
            . _ -.
        StorageError: a file cannot be written.
    """
    if isinstance(ids, (str, bytes)):
        raise ConfigError(ErrorCode.EINVAL, f"graft: ids must be a list of node ids, not {ids!r}")
    _lib.ensure()  # ForkError in a child of the process that loaded it
    raw = [_lib.encode(i, "node id") for i in ids]
    for r in raw:
        if len(r) > _CERT_ID_MAX:
            raise ConfigError(ErrorCode.EINVAL, f"graft: node id of {len(r)} characters: generate_certs takes ids of "
                              f"at most {_CERT_ID_MAX} (the file {r[:20].decode(errors='replace')}...-key.pem must fit 255 bytes)")
    arr = (ctypes.c_char_p * max(len(raw), 1))(*raw)
    d = _lib.encode(directory, "directory")
    if cluster is None:
        check(lib.graft_generate_certs(d, arr, len(raw)))
        return
    name = _lib.encode(cluster, "cluster")
    rc = lib.graft_generate_cluster_certs(d, name, arr, len(raw))
    if rc == ErrorCode.EINVAL and not _CLUSTER_NAME.fullmatch(name):
        check(rc, f"graft: cluster name {cluster!r}: 1 to 253 characters of A-Z a-z 0-9 . _ -")
    check(rc)


def tls_files(directory: PathLike, node_id: str) -> Tuple[str, str, str]:
    """``(cert, key, ca)`` paths of ``node_id`` in a folder laid out by
    :func:`generate_certs`, ready for ``Node(tls=...)``."""
    d = os.fspath(directory)
    return (os.path.join(d, f"{node_id}.pem"), os.path.join(d, f"{node_id}-key.pem"),
            os.path.join(d, "ca.pem"))
