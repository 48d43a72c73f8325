"""The node's event descriptor: fileno() and next_event() with selectors;
one sequence with the callbacks; lazy loading of libgraft and fork()."""

from __future__ import annotations

import ctypes
import selectors
import subprocess
import sys
import time

import pytest

import graft
from graft import _lib

from conftest import child_env, free_udp_ports, one_leader, wait_until
from test_lease import Journal


def as_journal_entry(ev):
    """An Event in the shape Journal records its callbacks."""
    if ev.kind is graft.EventKind.STATE:
        return ("state", ev.old, ev.new, ev.term)
    if ev.kind is graft.EventKind.LEADER:
        return ("leader", ev.leader, ev.term)
    assert ev.kind in (graft.EventKind.LEASE_ACQUIRED, graft.EventKind.LEASE_LOST), ev
    return ("lease", ev.kind is graft.EventKind.LEASE_ACQUIRED, ev.lease)


def drain(node):
    out = []
    while (ev := node.next_event()) is not None:
        out.append(ev)
    return out


def test_event_layout_and_kinds_match_graft_h():
    # graft.h: uint32 size, enum kind, enum from, to, uint64 term, deadline_ns,
    # char leader[GRAFT_ID_MAX], uint64 at_ns (appended)
    assert ctypes.sizeof(_lib.graft_event) == 4 * 4 + 8 * 2 + _lib.ID_MAX + 8
    assert _lib.graft_event.term.offset == 16 and _lib.graft_event.leader.offset == 32
    assert _lib.graft_event.at_ns.offset == 32 + _lib.ID_MAX
    assert [int(k) for k in graft.EventKind] == [1, 2, 3, 4, 5]


def test_events_follow_the_callbacks_and_the_descriptor(cluster):
    addrs = cluster.addresses(3)
    js = {i: Journal() for i in addrs}
    nodes = [cluster.node(i, addrs, **js[i].kw()) for i in addrs]
    for n in nodes:
        n.fileno()  # well before the first election timeout
    node = one_leader(nodes)
    j = js[node.id]
    fd = node.fileno()
    assert node.fileno() == fd
    sel = selectors.DefaultSelector()
    sel.register(node, selectors.EVENT_READ)  # fileno() makes the node selectable
    assert node.wait_lease(10) is not None
    woke = time.monotonic()
    wait_until(lambda: j.leases(), 5, "the acquired callback")
    assert sel.select(timeout=5), "not readable with events queued"
    evs = drain(node)
    read = time.monotonic()
    # Event.at: when the core emitted each one, in order, before it was read;
    # the lease was acquired before wait_lease returned.
    ats = [e.at for e in evs]
    assert all(a is not None and 0 < a <= read for a in ats), ats
    assert ats == sorted(ats), ats
    assert not sel.select(timeout=0), "readable with nothing queued"
    assert node.next_event() is None
    cbs = [e[:3] if e[0] == "lease" else e for e in j.snapshot()]
    got = [as_journal_entry(e) for e in evs]
    assert got == cbs, (got, cbs)  # the same sequence
    kinds = [e.kind for e in evs]
    assert graft.EventKind.LEASE_ACQUIRED in kinds and graft.EventKind.LEADER in kinds
    acq = evs[kinds.index(graft.EventKind.LEASE_ACQUIRED)]
    assert acq.old is None and acq.leader is None and acq.deadline > time.monotonic() - 1
    assert acq.at is not None and acq.at <= woke
    state = [e for e in evs if e.kind is graft.EventKind.STATE][-1]
    assert state.new is graft.State.LEADER and state.deadline is None
    sel.unregister(node)  # before close: the node closes its descriptor
    node.close()
    with pytest.raises(graft.ClosedError):
        node.next_event()
    with pytest.raises(graft.ClosedError):
        node.fileno()


def test_step_down_events_in_order(cluster):
    nodes = cluster.start(3)
    leader = one_leader(nodes)
    leader.fileno()
    drain(leader)
    leader.step_down()
    # The events come one by one: gather until the state change is among them.
    evs: list = []

    def gathered():
        evs.extend(drain(leader))
        return any(e.kind is graft.EventKind.STATE for e in evs) or None

    wait_until(gathered, 5, "the step-down's events")
    assert evs[0].kind is graft.EventKind.LEASE_LOST, evs
    assert evs[1].kind is graft.EventKind.STATE and evs[1].old is graft.State.LEADER, evs


LAZY_SCRIPT = r"""
import os, sys, graft
def loaded():
    return any("libgraft" in line for line in open("/proc/self/maps"))
assert not loaded(), "import graft loaded libgraft"
addr, state, certs = sys.argv[1:4]
pid = os.fork()
if pid == 0:  # the child starts a node: the parent never loaded the library
    try:
        with graft.Node("lazy", "n1", addr, state_path=state, tls=graft.tls_files(certs, "n1"),
                        heartbeat=0.02, election_timeout=(0.12, 0.18)) as node:
            lease = node.wait_lease(10)
            print("CHILD", "term" if lease else "none", lease.term if lease else "", flush=True)
    finally:
        os._exit(0)
os.waitpid(pid, 0)
name = graft.library_path.name  # loads it
print("PARENT", "loaded" if loaded() else "not-loaded", name, flush=True)
pid = os.fork()  # now the parent loaded it: the child must refuse
if pid == 0:
    try:
        graft.Node("lazy", "n1", addr, state_path=state, tls=graft.tls_files(certs, "n1"))
        print("CHILD2 no error", flush=True)
    except graft.ForkError:
        print("CHILD2 ForkError", flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_import_then_fork_then_start_in_the_child(certs, tmp_path):
    port = free_udp_ports(1)[0]
    r = subprocess.run([sys.executable, "-c", LAZY_SCRIPT, f"127.0.0.1:{port}", str(tmp_path / "n1.graft"),
                        str(certs)], env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert "CHILD term 1" in lines, r.stdout + r.stderr
    assert "PARENT loaded libgraft.so" in lines, r.stdout
    assert "CHILD2 ForkError" in lines, r.stdout
