"""Who owns a node, and the interpreter's exit.

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
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
from typing import Any, Optional, Tuple

from . import _lib
from ._errors import ErrorCode
from ._lib import lib

_log = logging.getLogger("graft")

WAIT_SLICE = 0.05  # seconds: how long a wait on the main thread blocks at a time


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
                alive[0].join(WAIT_SLICE)
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


