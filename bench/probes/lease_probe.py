#!/usr/bin/env python3
"""lease_probe.py - one graft node that times how its lease events reach a
Python program, for make bench's events section (issue 13); the Python twin
of lease_probe.c, printing the same lines (CLOCK_MONOTONIC ns, which is
``time.monotonic_ns()`` on Linux). MODE picks how the program learns of its
lease, one way per process, so that they do not queue for the GIL behind
one another:

* ``cb``: the callbacks (``on_lease`` and the state and leader ones), and
  a thread blocked in ``node.wait_lease()`` that, once it returns, reads the
  event queue (``node.fileno()``, ``node.next_event()``) for the instant the
  node's core acquired the lease (``Event.at`` of its LEASE_ACQUIRED);
* ``aio``: no callback; an asyncio task reading ``graft.aio.events(node)``;
* ``wait``: no callback and one thread, as a program built around
  ``wait_lease`` is: it waits for the lease in slices of 50 ms
  (``node.wait_lease(timeout=0.05)``), and between them, and once it holds
  the lease until it is lost, reads the event queue (the ``EVENT``, ``ACQ``
  and ``LOST`` lines, and the acquisition's ``Event.at``). No other Python
  code runs when the lease is acquired, so the wake-up is the library's and
  the interpreter's, not the GIL's queue behind callbacks (in ``cb`` three
  callbacks start at that instant too).

Lines::

    EVENT t=<ms> id=ID kind=state|leader ...       (as leader_worker)
    ACQ   id=ID term=N deadline_ns=D ns=T   the lease reached the program at T
    LOST  id=ID term=N deadline_ns=D ns=T  the loss reached the program at T
    WAKE  id=ID term=N ns=W enter_ns=E [at_ns=A]   (cb, wait) wait_lease entered at
          E returned at W; A: Event.at of the LEASE_ACQUIRED of that term
          emitted between E and W, absent when there is none (the lease was
          held before the call)

The instant the lease callback starts marks nothing here: it starts only once
its thread holds the GIL, which the woken waiter may hold; Event.at is the
core's own instant.

The main thread runs the asyncio loop (aio), the waiting loop (wait) or
sleeps (cb); SIGKILL ends the probe.

    PYTHONPATH=bindings/python python3 lease_probe.py MODE ID LISTEN STATE CERTS PEER_ID=ADDR...
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

import graft

_out = threading.Lock()


def say(line: str) -> None:
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def main() -> int:
    if len(sys.argv) < 7 or sys.argv[1] not in ("cb", "aio", "wait"):
        print("usage: lease_probe.py cb|aio|wait ID LISTEN STATE CERTS PEER_ID=ADDR...", file=sys.stderr)
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
    losses = [0]  # the waiter waits for one after each lease it got
    lost = threading.Condition()

    def on_lease(held: bool, lease: graft.Lease) -> None:
        t = time.monotonic_ns()
        if held:
            say(f"ACQ id={me} term={lease.term} deadline_ns={ns(lease.deadline)} ns={t}")
            return
        say(f"LOST id={me} term={lease.term} deadline_ns={ns(lease.deadline)} ns={t}")
        with lost:
            losses[0] += 1
            lost.notify_all()

    def acquired_at(sel: selectors.BaseSelector, term: int, since: int, until: int) -> Optional[int]:
        # The at (ns) of the LEASE_ACQUIRED of term that the core emitted
        # between since (the call's start) and until (its return), from the
        # queue, within 2 s; None: the call found the lease held (an event
        # later than until is another lease's). The events before it are
        # dropped (the callbacks report them). It may be queued after the
        # waiter woke, hence the wait.
        end = time.monotonic() + 2
        while True:
            while (ev := node.next_event()) is not None:
                at = ns(ev.at) if ev.at is not None else 0
                if at > until:
                    return None
                if ev.kind is graft.EventKind.LEASE_ACQUIRED and ev.term == term and at >= since:
                    return at
            left = end - time.monotonic()
            if left <= 0:
                return None
            sel.select(left)

    def waiter() -> None:
        sel = selectors.DefaultSelector()
        sel.register(node, selectors.EVENT_READ)
        while True:
            with lost:
                seen = losses[0]
            enter = time.monotonic_ns()
            lease = node.wait_lease()
            t = time.monotonic_ns()
            assert lease is not None
            at = acquired_at(sel, lease.term, enter, t)
            say(f"WAKE id={me} term={lease.term} ns={t} enter_ns={enter}" + (f" at_ns={at}" if at else ""))
            with lost:
                lost.wait_for(lambda: losses[0] != seen)

    if mode == "cb":
        kw = dict(on_state_change=on_state, on_leader_change=on_leader, on_lease=on_lease)
    node = graft.Node("graft-bench", me, listen, peers=peers, state_path=state,
                      tls=(c / f"{me}.pem", c / f"{me}-key.pem", c / "ca.pem"), **kw)

    def report(ev: graft.Event, t: int) -> None:
        # The lines of a queued event that reached the program at t (ns).
        if ev.kind == graft.EventKind.STATE:
            assert ev.old is not None and ev.new is not None
            on_state(ev.old, ev.new, ev.term)
        elif ev.kind == graft.EventKind.LEADER:
            on_leader(ev.leader, ev.term)
        elif ev.kind == graft.EventKind.LEASE_ACQUIRED:
            say(f"ACQ id={me} term={ev.term} deadline_ns={ns(ev.deadline or 0)} ns={t}")
        elif ev.kind == graft.EventKind.LEASE_LOST:
            say(f"LOST id={me} term={ev.term} deadline_ns={ns(ev.deadline or 0)} ns={t}")

    async def watch() -> None:
        async for ev in graft.aio.events(node):
            report(ev, time.monotonic_ns())

    def wait_loop() -> None:
        sel = selectors.DefaultSelector()
        sel.register(node, selectors.EVENT_READ)
        while True:
            enter = time.monotonic_ns()
            lease = node.wait_lease(timeout=0.05)
            t = time.monotonic_ns()
            if lease is None:
                while (ev := node.next_event()) is not None:
                    report(ev, time.monotonic_ns())
                continue
            # Read the queue until this lease's loss; the acquisition's
            # event may be queued after the return (it is pushed by the
            # callback goroutine): it reached the program at t.
            at = None
            while True:
                ev = node.next_event()
                if ev is None:
                    sel.select()
                    continue
                if ev.kind is graft.EventKind.LEASE_ACQUIRED and ev.term == lease.term and at is None:
                    a = ns(ev.at) if ev.at is not None else 0
                    if enter <= a <= t:
                        at = a
                        say(f"WAKE id={me} term={lease.term} ns={t} enter_ns={enter} at_ns={at}")
                    report(ev, t)
                    continue
                report(ev, time.monotonic_ns())
                if ev.kind is graft.EventKind.LEASE_LOST and ev.term == lease.term:
                    break

    if mode == "cb":
        node.fileno()  # the queue is on before the first election
        threading.Thread(target=waiter, daemon=True).start()
    say(f"READY id={me}")
    if mode == "cb":
        threading.Event().wait()  # the callbacks and the waiter do the work
    elif mode == "wait":
        node.fileno()  # the queue is on before the first election
        wait_loop()
    else:
        asyncio.run(watch())
    return 0


if __name__ == "__main__":
    sys.exit(main())
