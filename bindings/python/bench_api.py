#!/usr/bin/env python3
"""bench_api - what the Python binding costs: µs per query, callback latency.

Prints:
  * the cost of ``node.state`` (and of the other queries, and of the bare
    ctypes call underneath), median of batches, in µs per call;
  * the latency from Python of a callback round trip: ``step_down()`` is
    called on the leader of a 3-node cluster in this process, and the
    leader's own state-change callback (LEADER -> FOLLOWER) records when it
    runs: median and p99 in µs, from the call and from the return of
    step_down(). The main thread waits idle meanwhile (a busy main thread
    delays callbacks by the GIL switch interval, ~5 ms);
  * the event -> callback latency itself: that same callback calls
    ``stats()`` and reads its own ``callback_delay_last``, the time from the
    library queueing it (right after the election produced the event) to
    calling into the binding; ctypes' own cost (~10 µs) comes on top. The
    nodes log at the "graft" logger's level (WARNING by default), so the
    "hands leadership" INFO line is dropped inside the library; with
    ``on_log`` (INFO and up) the state change would wait behind that line's
    Python callback, a ctypes call that takes the GIL (~90 µs here).

Run: ``make bench-python`` (or ``PYTHONPATH=bindings/python python3
bindings/python/bench_api.py [--rounds N]`` after ``make lib``).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

import graft
from graft._lib import lib


def ports(n: int) -> List[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    out = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return out


def per_call_us(fn: Callable[[], object], batches: int = 200, size: int = 1000) -> float:
    """Median over batches of the mean cost of one call, in µs."""
    samples = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(size):
            fn()
        samples.append((time.perf_counter_ns() - t0) / size / 1000)
    return statistics.median(samples)


def pct(values: List[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200, help="step-down round trips to time")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="graft-bench-"))
    ids = ["n1", "n2", "n3"]
    graft.generate_certs(tmp, ids)
    addrs = {i: f"127.0.0.1:{p}" for i, p in zip(ids, ports(3))}

    lock = threading.Lock()
    stepped: Dict[str, threading.Event] = {i: threading.Event() for i in ids}
    stamp: Dict[str, int] = {}
    delay: Dict[str, float] = {}  # the step-down callback's own callback_delay_last
    live: Dict[str, graft.Node] = {}  # filled once every node started
    became_leader = threading.Event()

    def on_state(node_id: str):
        def cb(old: graft.State, new: graft.State, term: int) -> None:
            now = time.perf_counter_ns()
            if old is graft.State.LEADER and new is graft.State.FOLLOWER:
                me = live.get(node_id)
                d = me.stats().callback_delay_last if me is not None else None
                with lock:
                    stamp[node_id] = now
                    if d is not None:
                        delay[node_id] = d
                stepped[node_id].set()
            elif new is graft.State.LEADER:
                became_leader.set()
        return cb

    nodes = {i: graft.Node("bench", i, addrs[i], peers={j: addrs[j] for j in ids if j != i},
                           state_path=str(tmp / f"{i}.graft"), tls=graft.tls_files(tmp, i),
                           heartbeat=0.02, election_timeout=(0.12, 0.18), on_state_change=on_state(i))
             for i in ids}
    live.update(nodes)
    try:
        first = nodes[nodes["n1"].wait_for_leader(5.0)]
        n = first
        h = n._handle
        print(f"graft {graft.__version__} ({graft.library_path}), 3 nodes in this process")
        print("queries, µs per call (median of 200 batches of 1000):")
        rows = [
            ("node.state", lambda: n.state),
            ("node.is_leader", lambda: n.is_leader),
            ("node.term", lambda: n.term),
            ("node.leader", lambda: n.leader),
            ("node.lease()", n.lease),
            ("ctypes graft_node_state (floor)", lambda: lib.graft_node_state(h)),
        ]
        for name, fn in rows:
            print(f"  {name:34s} {per_call_us(fn):7.2f}")
        print(f"  {'node.stats()':34s} {per_call_us(n.stats, batches=50, size=100):7.2f}")

        from_call: List[float] = []
        from_return: List[float] = []
        delays: List[float] = []
        for _ in range(a.rounds):
            # The current leader, once every node agrees on it.
            deadline = time.monotonic() + 5
            while True:
                leader = next((x for x in nodes.values() if x.is_leader), None)
                if leader is not None and all(x.leader == leader.id for x in nodes.values()):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("bench: no stable leader within 5 s")
                became_leader.clear()
                became_leader.wait(0.05)
            ev = stepped[leader.id]
            ev.clear()
            with lock:
                delay.pop(leader.id, None)
            t_call = time.perf_counter_ns()
            try:
                leader.step_down()
            except graft.NoPeerError:
                continue  # the peers were not heard recently enough: retry
            t_ret = time.perf_counter_ns()
            if not ev.wait(2.0):
                raise SystemExit("bench: the step-down callback did not run within 2 s")
            with lock:
                t_cb = stamp[leader.id]
                d = delay.get(leader.id)
            if d is not None:
                delays.append(d * 1e6)
            from_call.append((t_cb - t_call) / 1000)
            from_return.append((t_cb - t_ret) / 1000)
        print(f"event -> callback latency, {len(delays)} step-downs (callback_delay_last read inside the callback), µs:")
        print(f"  library queue -> callback  median {statistics.median(delays):8.1f}   p99 {pct(delays, 99):8.1f}"
              "   (before ctypes' own ~10 µs)")
        print(f"callback round trip, {len(from_call)} step-downs (state callback LEADER -> FOLLOWER), µs:")
        print(f"  from step_down() call    median {statistics.median(from_call):8.1f}   p99 {pct(from_call, 99):8.1f}")
        print(f"  from step_down() return  median {statistics.median(from_return):8.1f}   p99 {pct(from_return, 99):8.1f}"
              "   (negative: the callback ran before step_down returned)")
    finally:
        for x in nodes.values():
            x.close()


if __name__ == "__main__":
    main()
