#!/usr/bin/env python3
"""lease_probe.py - one graft node that times how its lease events reach a
Python program, for make bench's events section (issue 13); the Python twin
of lease_probe.c, printing the same lines (CLOCK_MONOTONIC ns, which is
``time.monotonic_ns()`` on Linux). MODE picks how the program learns of its
lease, one way per process, so that they do not queue for the GIL behind
one another:

* ``cb``: the callbacks (``on_lease`` and the state and leader ones) and a
  thread blocked in ``node.wait_lease()``;
* ``aio``: no callback; an asyncio task reading ``graft.aio.events(node)``.

Lines::

    EVENT t=<ms> id=ID kind=state|leader ...       (as leader_worker)
    ACQ   id=ID term=N deadline_ns=D ns=T   the lease reached the program at T
    WAKE  id=ID term=N ns=W enter_ns=E     (cb) node.wait_lease() entered at
                                           E returned at W
    REF   id=ID term=N ns=T acq_ns=A
          (cb) after a WAKE whose lease was acquired while it waited: T the
          lease callback's start, A = T less the library's callback_delay_last
          of that callback (read by the waiting thread afterwards, so that
          the callback stays short), the instant the library queued it.
          ctypes' entry into the callback lies between A's two readings, so
          A is late by it, and a wake-up measured from A reads short by as
          much (~10 µs).
    LOST  id=ID term=N deadline_ns=D ns=T  the loss reached the program at T

The main thread runs the asyncio loop (aio) or sleeps (cb); SIGKILL ends the
probe.

    PYTHONPATH=bindings/python python3 lease_probe.py MODE ID LISTEN STATE CERTS PEER_ID=ADDR...
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import graft

_out = threading.Lock()


def say(line: str) -> None:
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def main() -> int:
    if len(sys.argv) < 7 or sys.argv[1] not in ("cb", "aio"):
        print("usage: lease_probe.py cb|aio ID LISTEN STATE CERTS PEER_ID=ADDR...", file=sys.stderr)
        return 2
    mode = sys.argv[1]
    me, listen, state, certs = sys.argv[2:6]
    peers = dict(p.split("=", 1) for p in sys.argv[6:])
    c = Path(certs)
    view = {"state": "follower", "leader": "-"}

    def on_state(old: graft.State, new: graft.State, term: int) -> None:
        view["state"] = new.name.lower()
        say(f"EVENT t={time.monotonic_ns() / 1e6:.3f} id={me} kind=state from={old.name.lower()} "
            f"state={view['state']} term={term} leader={view['leader']}")

    def on_leader(leader: Optional[str], term: int) -> None:
        view["leader"] = leader or "-"
        say(f"EVENT t={time.monotonic_ns() / 1e6:.3f} id={me} kind=leader state={view['state']} "
            f"term={term} leader={view['leader']}")

    kw: Dict[str, Any] = {}
    # cb: the lease callback notes when it ran; the waiter reports it.
    cond = threading.Condition()
    acquired: List[Tuple[int, int]] = [(0, 0)]  # (term, ns) of the latest lease callback (held)
    losses: List[int] = [0]  # the waiter waits for one after each lease it got

    def on_lease(held: bool, lease: graft.Lease) -> None:
        t = time.monotonic_ns()
        if held:
            say(f"ACQ id={me} term={lease.term} deadline_ns={ns(lease.deadline)} ns={t}")
            with cond:
                acquired[0] = (lease.term, t)
                cond.notify_all()
            return
        say(f"LOST id={me} term={lease.term} deadline_ns={ns(lease.deadline)} ns={t}")
        with cond:
            losses[0] += 1
            cond.notify_all()

    if mode == "cb":
        kw = dict(on_state_change=on_state, on_leader_change=on_leader, on_lease=on_lease)
    node = graft.Node("graft-bench", me, listen, peers=peers, state_path=state,
                      tls=(c / f"{me}.pem", c / f"{me}-key.pem", c / "ca.pem"), **kw)

    def waiter() -> None:
        while True:
            with cond:
                seen = losses[0]
            enter = time.monotonic_ns()
            lease = node.wait_lease()
            t = time.monotonic_ns()
            assert lease is not None
            say(f"WAKE id={me} term={lease.term} ns={t} enter_ns={enter}")
            # The callback of this lease, if it came while we waited.
            with cond:
                fresh = cond.wait_for(lambda: acquired[0][0] == lease.term and acquired[0][1] >= enter, timeout=1)
                cb = acquired[0][1]
            if fresh:
                # No other callback runs while the lease holds: the last
                # delay is the lease callback's.
                delay = node.stats().callback_delay_last
                say(f"REF id={me} term={lease.term} ns={cb} acq_ns={cb - ns(delay)}")
            with cond:
                cond.wait_for(lambda: losses[0] > seen)

    async def watch() -> None:
        async for ev in graft.aio.events(node):
            t = time.monotonic_ns()
            if ev.kind == graft.EventKind.STATE:
                assert ev.old is not None and ev.new is not None
                on_state(ev.old, ev.new, ev.term)
            elif ev.kind == graft.EventKind.LEADER:
                on_leader(ev.leader, ev.term)
            elif ev.kind == graft.EventKind.LEASE_ACQUIRED:
                say(f"ACQ id={me} term={ev.term} deadline_ns={ns(ev.deadline or 0)} ns={t}")
            elif ev.kind == graft.EventKind.LEASE_LOST:
                say(f"LOST id={me} term={ev.term} deadline_ns={ns(ev.deadline or 0)} ns={t}")

    say(f"READY id={me}")
    if mode == "cb":
        waiter()
    else:
        asyncio.run(watch())
    return 0


if __name__ == "__main__":
    sys.exit(main())
