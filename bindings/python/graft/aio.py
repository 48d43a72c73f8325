"""graft.aio: leadership in asyncio.

::

    async def main():
        with graft.Node(...) as node:
            while True:
                try:
                    async with graft.aio.leading(node) as lease:
                        await run_leader_work(fencing_token=lease.term)
                except graft.LeaseLost:
                    pass  # the body was cancelled when the lease ended

* ``await wait_lease(node, timeout=None)`` returns the node's :class:`Lease`
  once it holds one.
* ``async for event in events(node)`` yields the node's :class:`Event` s (state
  and leader changes, lease acquired and lost) in order; it ends when the node
  is closed.
* ``async with leading(node) as lease`` waits for the lease, runs the body, and
  cancels the body when the lease is lost, then raises :class:`LeaseLost`.

Everything here reads the node's event descriptor (:meth:`Node.fileno`) with
``loop.add_reader``, on the event loop's own thread: no callback of a library
thread is involved, so nothing waits for the GIL on the library's side and
nothing crosses threads. One reader per node, on a duplicate of the
descriptor (closing the node cannot leave the loop watching a reused
number), fans every event out to every waiter, so these functions can be
used together; do not also call :meth:`Node.next_event` yourself (each event
goes to one reader). A node is watched by one event loop at a time.

The loss of the lease is reported by the library at the deadline itself;
the body sees its cancellation as soon as the loop runs. A body that does
work which must never overlap with another leader should still check
``node.is_leader`` (computed at the instant of the call) before each step.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import Any, AsyncIterator, Optional, Set

from ._errors import ClosedError, ErrorCode, LeaseLost
from ._events import Event, EventKind
from ._node import Node
from ._types import Lease

__all__ = ["events", "leading", "wait_lease"]

_CLOSED = object()  # put in every subscriber's queue when the node closes


class _Reader:
    """Reads one node's events on one loop and hands each to every
    subscriber's queue. Lives as long as the node is open (or the loop). It
    holds the node weakly: a node nobody holds is still collected (and
    closed by its finaliser)."""

    def __init__(self, node: Node, loop: asyncio.AbstractEventLoop) -> None:
        self.node = weakref.ref(node)
        self.loop = loop
        self.subs: Set["asyncio.Queue[Any]"] = set()
        self.closed = False
        self.fd = os.dup(node.fileno())
        # Events queued before anyone listened are history: subscribers read
        # the state with the queries once subscribed.
        while node.next_event() is not None:
            pass
        loop.add_reader(self.fd, self._drain)
        node._after_close(self._closed_elsewhere)

    def _closed_elsewhere(self) -> None:
        # Any thread: the node's close() runs wherever the program calls it.
        try:
            self.loop.call_soon_threadsafe(self._shutdown)
        except RuntimeError:  # the loop is closed: nothing to wake
            self._release()

    def _drain(self) -> None:
        node = self.node()
        if node is None:  # collected: its finaliser closed it
            self._shutdown()
            return
        while True:
            try:
                ev = node.next_event()
            except ClosedError:
                self._shutdown()
                return
            if ev is None:
                return
            for q in list(self.subs):
                q.put_nowait(ev)

    def _release(self) -> None:
        if self.fd >= 0:
            if not self.loop.is_closed():
                self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1

    def _shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._release()
        for q in list(self.subs):
            q.put_nowait(_CLOSED)

    def subscribe(self) -> "asyncio.Queue[Any]":
        q: "asyncio.Queue[Any]" = asyncio.Queue()
        self.subs.add(q)
        if self.closed:
            q.put_nowait(_CLOSED)
        return q

    def unsubscribe(self, q: "asyncio.Queue[Any]") -> None:
        self.subs.discard(q)


_readers: "weakref.WeakKeyDictionary[Node, _Reader]" = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def _reader(node: Node) -> _Reader:
    """The node's reader on the running loop, made on first use."""
    loop = asyncio.get_running_loop()
    with _readers_lock:
        r = _readers.get(node)
        if r is not None and r.loop is not loop:
            if not r.loop.is_closed():
                raise RuntimeError(f"graft.aio: node {node.id} is watched by another event loop")
            r._release()  # left behind by a loop that was closed
            r = None
        if r is None or r.closed:
            r = _readers[node] = _Reader(node, loop)
        return r


async def _until_lease(node: Node, q: "asyncio.Queue[Any]") -> Lease:
    """Wait, on q's events, until node holds the lease (every event makes it
    look again, so none can be missed)."""
    while True:
        lease = node.lease()  # ClosedError once closed
        if lease is not None:
            return lease
        if await q.get() is _CLOSED:
            raise ClosedError(ErrorCode.ECLOSED, f"graft: node {node.id} is closed")


async def wait_lease(node: Node, timeout: Optional[float] = None) -> Lease:
    """Wait until ``node`` holds the lease and return it (at once if it holds
    it now). The lease may end right after: check ``lease.valid()`` before
    acting.

    Raises:
        asyncio.TimeoutError: ``timeout`` seconds passed first.
        ClosedError: the node is or gets closed.
    """
    r = _reader(node)
    q = r.subscribe()
    try:
        return await asyncio.wait_for(_until_lease(node, q), timeout)
    finally:
        r.unsubscribe(q)


async def events(node: Node) -> AsyncIterator[Event]:
    """The node's events from now on, in order (see :class:`Event`); ends
    when the node is closed. Read the current state with the queries after
    the first ``await``. An ``EventKind.OVERFLOW`` means events were dropped
    because they were not read for a long time."""
    r = _reader(node)
    q = r.subscribe()
    try:
        while True:
            ev = await q.get()
            if ev is _CLOSED:
                return
            yield ev
    finally:
        r.unsubscribe(q)


class leading:
    """``async with leading(node) as lease:`` waits for the lease (at most
    ``timeout`` seconds: asyncio.TimeoutError), runs the body with it, and
    cancels the body when the lease is lost (its deadline passed without
    renewal, a step-down, a higher term, the node closed); then it raises
    :class:`LeaseLost` instead of the cancellation. ``lease`` is the lease
    at the start: renewals are silent, ``node.lease()`` gives the current
    deadline. A cancellation from elsewhere passes through unchanged.
    """

    def __init__(self, node: Node, timeout: Optional[float] = None) -> None:
        self._node = node
        self._timeout = timeout
        self._lost: Optional[LeaseLost] = None
        self._watch: "Optional[asyncio.Task[None]]" = None

    async def __aenter__(self) -> Lease:
        self._reader = _reader(self._node)
        self._q = self._reader.subscribe()
        try:
            lease = await asyncio.wait_for(_until_lease(self._node, self._q), self._timeout)
        except BaseException:
            self._reader.unsubscribe(self._q)
            raise
        self._task = asyncio.current_task()
        self._watch = asyncio.get_running_loop().create_task(self._watch_loss(lease))
        return lease

    def _ended(self, ev: Any, lease: Lease) -> Optional[str]:
        """Why ev ends lease, or None if it does not."""
        if ev is _CLOSED:
            return "the node was closed"
        if ev.kind is EventKind.LEASE_LOST and ev.term == lease.term and ev.deadline >= lease.deadline:
            # (an older loss of the same term, from before a renewal after a
            # pause, has an earlier deadline)
            return "the lease was lost"
        if ev.kind is EventKind.OVERFLOW:
            try:
                now = self._node.lease()
            except ClosedError:
                return "the node was closed"
            if now is None or now.term != lease.term:
                return "the lease was lost"
        return None

    async def _watch_loss(self, lease: Lease) -> None:
        while True:
            why = self._ended(await self._q.get(), lease)
            if why is not None:
                self._lost = LeaseLost(message=f"graft: node {self._node.id}: {why} (term {lease.term})",
                                       term=lease.term)
                assert self._task is not None
                self._task.cancel()
                return

    async def __aexit__(self, typ: Any, exc: Optional[BaseException], tb: Any) -> bool:
        if self._watch is not None:
            self._watch.cancel()
        self._reader.unsubscribe(self._q)
        lost = self._lost
        if lost is None:
            return False
        uncancel = getattr(self._task, "uncancel", None)  # Python 3.11+: undo our cancel's count
        if uncancel is not None:
            uncancel()
            cancelled = typ is not None and issubclass(typ, asyncio.CancelledError)
            if cancelled and self._task.cancelling():  # cancelled from elsewhere too: that wins
                return False
        raise lost from exc
