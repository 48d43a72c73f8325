"""A 3-node cluster in one process: election, lease, step-down, stats."""

from __future__ import annotations

import time

import pytest

import graft

from conftest import ELECTION, leaders, one_leader, wait_until


def test_three_nodes_elect_exactly_one_leader(cluster):
    nodes = cluster.start(3)
    leader = one_leader(nodes)
    assert leader.state is graft.State.LEADER
    assert all(n.state is graft.State.FOLLOWER for n in nodes if n is not leader)
    assert len({n.term for n in nodes}) == 1 and leader.term >= 1
    # Never two leaders at once while polling for a second.
    deadline = time.monotonic() + 1.0
    polls = 0
    while time.monotonic() < deadline:
        assert len(leaders(nodes)) <= 1
        polls += 1
    assert polls > 100
    print(f"one leader ({leader.id}, term {leader.term}); never two in {polls} polls")


def test_wait_for_leader_returns_the_leader_id(cluster):
    nodes = cluster.start(3)
    ids = {n.wait_for_leader(3.0) for n in nodes}
    assert len(ids) == 1
    assert one_leader(nodes).id in ids


def test_lease_on_the_leader_only(cluster):
    nodes = cluster.start(3)
    leader = one_leader(nodes)
    lease = wait_until(leader.lease, 1.0, "a lease on the leader")
    now = time.monotonic()
    # The deadline is on time.monotonic()'s clock, at most one election
    # timeout ahead (the lease is the minimum election timeout).
    assert now < lease.deadline <= now + ELECTION[0] + 0.01
    assert lease.term == leader.term
    assert lease.valid() and 0 < lease.remaining() <= ELECTION[0] + 0.01
    assert all(n.lease() is None for n in nodes if n is not leader)


def test_step_down_hands_over_at_once(cluster):
    nodes = cluster.start(3)
    old = one_leader(nodes)
    term = old.term
    t0 = time.monotonic()
    old.step_down()
    assert not old.is_leader  # the lease ends before step_down returns
    new = wait_until(lambda: [n for n in leaders(nodes) if n is not old], 2.0, "a new leader")[0]
    took = time.monotonic() - t0
    assert new.term > term
    # A handover is a round trip, not an election timeout.
    assert took < ELECTION[1] * 2, f"handover took {took:.3f} s"
    assert old.stats().transfers >= 1
    print(f"{old.id} handed over to {new.id} in {took * 1000:.0f} ms (term {term} -> {new.term})")


def test_step_down_on_a_follower_raises_not_leader(cluster):
    nodes = cluster.start(3)
    leader = one_leader(nodes)
    follower = next(n for n in nodes if n is not leader)
    with pytest.raises(graft.NotLeaderError) as e:
        follower.step_down()
    assert e.value.code == graft.ErrorCode.ENOTLEADER


def test_stats_snapshot(cluster):
    nodes = cluster.start(3)
    leader = one_leader(nodes)
    s = leader.stats()
    assert isinstance(s, graft.Stats)
    assert s.state is graft.State.LEADER and s.leader == leader.id and s.term == leader.term
    assert s.elections_won >= 1 and s.since_leader_contact == 0.0
    # Heartbeats flow from the leader and are received by the followers.
    wait_until(lambda: leader.stats().msgs_sent[graft.MsgKind.HEARTBEAT] > 0, 1.0, "heartbeats sent")
    follower = next(n for n in nodes if n is not leader)
    f = wait_until(lambda: (lambda st: st if st.msgs_received[graft.MsgKind.HEARTBEAT] > 0 else None)(follower.stats()),
                   1.0, "heartbeats received")
    assert f.since_leader_contact is not None and f.since_leader_contact < 1.0
    assert f.net_msgs_received > 0 and f.drop_spoofed_sender == 0


def test_wait_for_leader_times_out_without_quorum(cluster):
    addrs = cluster.addresses(3)
    lone = cluster.node("n1", addrs)  # n2 and n3 never start
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        lone.wait_for_leader(0.3)
    assert 0.3 <= time.monotonic() - t0 < 1.0
    assert lone.state is not graft.State.LEADER


def test_context_manager_closes(cluster):
    addrs = cluster.addresses(3)
    with cluster.node("n1", addrs) as node:
        assert node.state is not graft.State.CLOSED
    assert node.state is graft.State.CLOSED


def test_version_and_repr(cluster):
    assert graft.__version__.count(".") == 2
    nodes = cluster.start(3)
    assert "graft.Node n1" in repr(nodes[0])
