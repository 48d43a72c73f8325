"""graft.Node: one member of a cluster, running inside this process.

The callbacks' protocol is in :mod:`graft._callbacks`, Ctrl-C and the
interpreter's exit in :mod:`graft._owner`, certificates in :mod:`graft._certs`.

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

import ctypes
import logging
import math
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

from . import _lib
from ._errors import ClosedError, ConfigError, ErrorCode, GraftError, check, error_for, raise_fork
from ._events import Event, event_from
from ._lib import lib
from ._types import Lease, MsgKind, State, Stats

__all__ = ["Node", "generate_certs", "tls_files"]

_log = logging.getLogger("graft")

from ._callbacks import (_LOG_LEVELS, _STATES, ErrorCallback, GrantHook, LeaderCallback, LeaseCallback,  # noqa: E402
                         LogCallback, PositionHook, StateCallback, make_callbacks, make_hooks)
from ._certs import PathLike, generate_certs, tls_files  # noqa: E402
from ._owner import EXIT_TIMEOUT, WAIT_SLICE as _WAIT_SLICE, _exit, _in_callback, _open, _Owner  # noqa: E402

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
_ERRBUF = 1024
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
        priority: this node's claim to the leadership, an int in
            [0, 2**32 - 1]; higher is preferred (default 1). A leader ranks
            its followers as successors by priority (then by how recently
            each answered), and hands the leadership over to a follower of
            higher priority than its own once that follower has answered
            every heartbeat for a stable period (5 x the election timeout's
            max), at most once per such period. 0 makes a witness: it votes
            and acknowledges heartbeats but never campaigns, so it never
            leads (two data sites plus a witness at a third survive the loss
            of one site). A witness without peers is a ConfigError: a
            cluster needs a node that can lead.
        succession_delay: seconds between the ranked successors of a silent
            leader: the follower of rank r campaigns ``election min + (r-1) *
            succession_delay`` after the last heartbeat. Just above one
            campaign (two round trips and two fsyncs). None keeps the
            library's default (0.01, or less when many peers share the
            election window); with two peers or more, ``min + (peers - 1) *
            succession_delay`` must stay below the election timeout's max.
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
        priority: int = 1,
        succession_delay: Optional[float] = None,
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
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 0xFFFFFFFF:
            raise ConfigError(ErrorCode.EINVAL, f"graft: priority must be an int in [0, 2**32 - 1], not {priority!r}")
        succession_ms = _ms(succession_delay, "succession_delay") if succession_delay is not None else 0
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
            if priority != 1:
                check(lib.graft_config_set_priority(cfg, priority))
            if succession_ms:
                check(lib.graft_config_set_succession_delay(cfg, succession_ms))
            callbacks = make_callbacks(self)
            state_fn, leader_fn, error_fn, log_fn = callbacks
            lease_fn, position_fn, grant_fn = hooks = make_hooks(self, on_lease, current_position, grant_vote)
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
            rank=s.rank,
            successor=_lib.decode(s.successor) or None,
            priority_takeovers=s.priority_takeovers,
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


