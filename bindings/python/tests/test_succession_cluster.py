"""Issue 16 at work over QUIC, in this process: a node of priority 2 ends
up leading, a witness (priority 0) never leads, is never ranked nor handed
the leadership, and alone never campaigns."""

from __future__ import annotations

import time

import graft

from conftest import ELECTION, leaders, one_leader, wait_until

STABLE = 5 * ELECTION[1]  # the default stable period: 5 x the election maximum


def agreed(nodes):
    """The node that leads when every node names it, else None."""
    ls = leaders(nodes)
    return ls[0] if len(ls) == 1 and all(n.leader == ls[0].id for n in nodes) else None


def test_preferred_node_ends_up_leading(cluster):
    addrs = cluster.addresses(3)
    n1, n2 = cluster.node("n1", addrs), cluster.node("n2", addrs)
    first = one_leader([n1, n2], timeout=10.0)
    joined = time.monotonic()
    n3 = cluster.node("n3", addrs, priority=2)
    nodes = [n1, n2, n3]
    wait_until(lambda: agreed(nodes) is n3, 30.0, "n3 (priority 2) to lead")
    took = time.monotonic() - joined
    s1, s2, s3 = (n.stats() for n in nodes)
    if s1.step_downs + s2.step_downs == 0:  # the leader stayed healthy: it handed over
        assert s1.priority_takeovers + s2.priority_takeovers >= 1
        assert took >= STABLE
    assert s3.priority_takeovers == 0  # nobody outranks n3
    # n3 ranks both followers and names the first.
    wait_until(lambda: n3.stats().successor in ("n1", "n2")
               and sorted((n1.stats().rank, n2.stats().rank)) == [1, 2], 10.0, "ranks 1 and 2")
    print(f"{first.id} led; n3 (priority 2) leads {took:.3f} s after it joined (stable period {STABLE:.2f} s)")


def test_witness_never_leads(cluster):
    addrs = cluster.addresses(3)
    campaigns = []
    w = cluster.node("n3", addrs, priority=0,
                     on_state_change=lambda old, new, term: campaigns.append(new) if new.name != "FOLLOWER" else None)
    a, b = cluster.node("n1", addrs), cluster.node("n2", addrs)
    nodes = [a, b, w]

    def other_named():
        # The leader, whichever data node it is (a lapse on a loaded machine
        # may move it), names the other as its first successor.
        leader = agreed(nodes)
        other = b if leader is a else a
        return leader in (a, b) and leader.stats().successor == other.id and other.stats().rank == 1

    wait_until(other_named, 10.0, "the other data node as first successor")
    assert w.stats().rank == 0

    def step_down():
        # A leader just elected may not have heard from the other data node
        # yet (NoPeerError, NotLeaderError after a lapse): asked again.
        leader = agreed(nodes)
        if leader is None or leader is w:
            return None
        try:
            leader.step_down()
        except (graft.NoPeerError, graft.NotLeaderError):
            return None
        return leader.id

    for _ in range(3):  # a handover never goes to the witness
        old = wait_until(step_down, 10.0, "a step-down")
        wait_until(lambda: (lambda l: l is not None and l is not w and l.id != old)(agreed(nodes)), 10.0,
                   "a new leader")
    assert campaigns == []
    a.close()
    b.close()
    quiet = 4 * ELECTION[1]
    wait_until(lambda: (w.stats().since_leader_contact or 0) > quiet, 10.0, "the witness alone for a while")
    s = w.stats()
    assert (s.state.name, s.prevotes_started, s.elections_started, s.rank) == ("FOLLOWER", 0, 0, 0)
    assert campaigns == [] or campaigns == ["CLOSED"]
