"""Callbacks: order, terms, exceptions inside them, lifetime of the trampolines."""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref

import pytest

import graft

from conftest import leaders, one_leader, wait_until


class Recorder:
    """Records one node's events in the order its callbacks ran."""

    def __init__(self) -> None:
        self.events = []
        self.lock = threading.Lock()

    def on_state(self, old, new, term):
        assert isinstance(old, graft.State) and isinstance(new, graft.State)
        with self.lock:
            self.events.append(("state", old, new, term))

    def on_leader(self, leader, term):
        assert leader is None or isinstance(leader, str)
        with self.lock:
            self.events.append(("leader", leader, term))

    def snapshot(self):
        with self.lock:
            return list(self.events)


def check_order(node_id, events):
    """State events chain (each starts where the last ended), terms never go
    down, and the change to CLOSED is the last event."""
    state = graft.State.FOLLOWER
    term = 0
    for ev in events:
        t = ev[-1]
        assert t >= term, f"{node_id}: term went down in {events}"
        term = t
        if ev[0] == "state":
            assert ev[1] is state, f"{node_id}: {ev} does not start at {state}: {events}"
            state = ev[2]
    assert events and events[-1][0] == "state" and events[-1][2] is graft.State.CLOSED, events


def test_callback_order_and_terms(cluster):
    addrs = cluster.addresses(3)
    rec = {i: Recorder() for i in addrs}
    nodes = [cluster.node(i, addrs, on_state_change=rec[i].on_state, on_leader_change=rec[i].on_leader)
             for i in addrs]
    first = one_leader(nodes)
    first.step_down()
    second = wait_until(lambda: [n for n in leaders(nodes) if n is not first], 2.0, "a second leader")[0]
    # The leader's own events: it saw itself become leader at its term.
    wait_until(lambda: ("leader", second.id, second.term) in rec[second.id].snapshot(), 1.0,
               "the leader change on the new leader")
    assert ("state", graft.State.CANDIDATE, graft.State.LEADER, second.term) in rec[second.id].snapshot()
    for n in nodes:
        n.close()
    for i, r in rec.items():
        check_order(i, r.snapshot())
    # Once close returned, no callback runs again.
    done = {i: len(r.snapshot()) for i, r in rec.items()}
    assert all(len(r.snapshot()) == done[i] for i, r in rec.items())
    print({i: len(r.snapshot()) for i, r in rec.items()}, "events, in order")


def test_exception_in_callback_is_logged_and_harmless(cluster, caplog):
    calls = []

    def bad_state(old, new, term):
        calls.append(new)
        raise RuntimeError("boom from on_state_change")

    def bad_leader(leader, term):
        raise SystemExit("a callback cannot end the process")

    caplog.set_level(logging.ERROR, logger="graft")
    nodes = cluster.start(3, on_state_change=bad_state, on_leader_change=bad_leader)
    leader = one_leader(nodes)
    wait_until(lambda: graft.State.LEADER in calls, 1.0, "the callback to see LEADER")
    leader.step_down()  # more events after the exceptions: the node still works
    wait_until(lambda: [n for n in leaders(nodes) if n is not leader], 2.0, "a new leader")
    msgs = [r.getMessage() for r in caplog.records if r.name == "graft"]
    assert any("on_state_change" in m for m in msgs), msgs
    assert any("on_leader_change" in m for m in msgs), msgs
    boom = [r for r in caplog.records if r.exc_info and "boom" in str(r.exc_info[1])]
    assert boom, "the traceback is logged"


def test_callbacks_may_query_the_node(cluster):
    seen = []
    box = {}

    def on_state(old, new, term):
        node = box.get("node")
        if node is not None and new is not graft.State.CLOSED:
            seen.append((new, node.state, node.term, node.is_leader))

    addrs = cluster.addresses(3)
    box["node"] = cluster.node("n1", addrs, on_state_change=on_state)
    others = [cluster.node(i, addrs) for i in ("n2", "n3")]
    leader = one_leader([box["node"], *others])
    if leader is not box["node"]:
        leader.step_down()  # n1 may get it; either way n1 has seen events
    wait_until(lambda: seen or box["node"].term >= 1, 2.0, "an event on n1")
    for new, state, term, _ in seen:
        assert isinstance(state, graft.State) and term >= 0


def test_default_logging_goes_to_the_graft_logger(cluster, caplog):
    caplog.set_level(logging.DEBUG, logger="graft")
    nodes = cluster.start(3)
    leader = one_leader(nodes)
    wait_until(lambda: any("became leader" in r.getMessage() for r in caplog.records), 1.0, "a log line")
    rec = next(r for r in caplog.records if "became leader" in r.getMessage())
    assert rec.name == "graft" and rec.levelno == logging.INFO and rec.graft_node == leader.id


def test_on_log_gets_logging_levels(cluster):
    lines = []
    nodes = cluster.start(3, on_log=lambda level, msg: lines.append((level, msg)))
    one_leader(nodes)
    wait_until(lambda: any("became leader" in m for _, m in lines), 1.0, "a log line")
    assert {lvl for lvl, _ in lines} <= {logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR}


def test_log_level_filters_in_the_library(cluster):
    # Lines below log_level never cross into Python (each would cost a
    # callback waiting for the GIL); on_log defaults to INFO and up.
    quiet, chatty = [], []
    nodes = cluster.start(3, on_log=lambda level, msg: quiet.append(level))
    one_leader(nodes)
    leader = one_leader(nodes)
    leader.step_down()
    wait_until(lambda: any(n.is_leader for n in nodes if n is not leader), 2.0, "a new leader")
    for n in nodes:
        n.close()
    more = cluster.start(3, on_log=lambda level, msg: chatty.append(level), log_level=logging.DEBUG)
    one_leader(more)
    wait_until(lambda: logging.DEBUG in chatty, 2.0, "a debug line")
    assert quiet and logging.DEBUG not in quiet
    with pytest.raises(graft.ConfigError):
        cluster.start(1, log_level="loud")


def test_unreferenced_node_is_closed_by_gc(cluster):
    addrs = cluster.addresses(1)
    events = []
    node = graft.Node("gc", "n1", addrs["n1"], state_path=str(cluster.tmp / "gc.graft"),
                      tls=graft.tls_files(cluster.certs, "n1"), heartbeat=0.02, election_timeout=(0.12, 0.18),
                      on_state_change=lambda o, n, t: events.append(n))
    wait_until(lambda: node.is_leader, 2.0, "a lone node to lead itself")
    ref = weakref.ref(node)
    del node
    gc.collect()
    assert ref() is None
    # __del__ closed it: the final event ran and the address is free again.
    assert events[-1] is graft.State.CLOSED
    cluster.node("n1", addrs, peers={}, state_path=cluster.tmp / "gc2.graft").close()


def test_many_create_close_cycles_keep_trampolines_alive(cluster):
    addrs = cluster.addresses(1)
    count = []
    for k in range(15):
        n = cluster.node("n1", addrs, peers={}, state_path=cluster.tmp / f"cyc{k}.graft",
                         on_state_change=lambda o, s, t: count.append(s),
                         on_leader_change=lambda l, t: count.append(l))
        wait_until(lambda: n.is_leader, 2.0, "a lone leader")
        n.close()
        gc.collect()
    assert count.count(graft.State.CLOSED) == 15


def test_slow_callback_shows_as_delay_of_the_next(cluster):
    # The first state callback sleeps 100 ms; the leader change queued
    # behind it starts late by about that much, and sees its own delay in
    # stats() from inside.
    addrs = cluster.addresses(1)
    holder = []
    first = threading.Event()
    seen = []

    def on_state(old, new, term):
        if not first.is_set():
            first.set()
            time.sleep(0.1)

    def on_leader(leader, term):
        wait_until(lambda: holder, 2.0, "the node handed to the callback")
        seen.append(holder[0].stats().callback_delay_last)

    node = cluster.node("n1", addrs, on_state_change=on_state, on_leader_change=on_leader)
    holder.append(node)
    wait_until(lambda: seen, 3.0, "the leader-change callback ran")
    assert seen[0] >= 0.05, seen
    s = node.stats()
    assert s.callback_delay_max >= seen[0]
    assert 0.0 <= s.callback_delay_last <= s.callback_delay_max
