"""Leadership a program can act on (issue 13): on_lease, wait_lease, and the
vote hooks current_position / grant_vote."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import graft

from conftest import one_leader, wait_until
from test_processes import WAIT_SCRIPT, ctrl_c_while_waiting


class Journal:
    """One node's state, leader and lease callbacks, in the order they ran."""

    def __init__(self) -> None:
        self.events = []
        self.lock = threading.Lock()

    def on_state(self, old, new, term):
        with self.lock:
            self.events.append(("state", old, new, term))

    def on_leader(self, leader, term):
        with self.lock:
            self.events.append(("leader", leader, term))

    def on_lease(self, held, lease):
        assert isinstance(held, bool) and isinstance(lease, graft.Lease)
        with self.lock:
            self.events.append(("lease", held, lease, time.monotonic()))

    def kw(self):
        return dict(on_state_change=self.on_state, on_leader_change=self.on_leader, on_lease=self.on_lease)

    def leases(self):
        with self.lock:
            return [e for e in self.events if e[0] == "lease"]

    def snapshot(self):
        with self.lock:
            return list(self.events)


def check_pairs(events):
    """Every loss follows exactly one gain of the same term; ends with a loss."""
    holding = None
    for e in events:
        if e[0] != "lease":
            continue
        _, held, lease, _ = e
        if held:
            assert holding is None, events
            holding = lease
        else:
            assert holding is not None and lease.term == holding.term, events
            assert lease.deadline >= holding.deadline, events
            holding = None
    assert holding is None, f"a lease without its loss: {events}"


def test_single_node_lease_callback_and_wait(cluster):
    j = Journal()
    node = cluster.start(1, **j.kw())[0]
    lease = node.wait_lease(timeout=10)
    assert lease is not None and lease.valid()
    assert lease.term == node.term
    assert node.wait_lease(timeout=0) is not None  # holds now: at once
    got = wait_until(lambda: j.leases(), 5, "the acquired callback")
    assert got[0][1] is True and got[0][2].term == lease.term
    assert got[0][2].deadline <= lease.deadline  # renewals move it later
    node.close()
    events = j.snapshot()
    # close: the loss, then the change to CLOSED, last
    assert events[-2][0] == "lease" and events[-2][1] is False
    assert events[-1][0] == "state" and events[-1][2] is graft.State.CLOSED
    check_pairs(events)
    with pytest.raises(graft.ClosedError):
        node.wait_lease(0)


def test_wait_lease_times_out_and_close_wakes_it(cluster):
    addrs = cluster.addresses(3)
    node = cluster.node("n1", addrs)  # its peers never run: no lease, ever
    t0 = time.monotonic()
    assert node.wait_lease(timeout=0) is None
    assert node.wait_lease(timeout=0.2) is None
    took = time.monotonic() - t0
    assert 0.2 <= took < 2.0, took
    result = []

    def waiter():
        try:
            result.append(node.wait_lease())
        except graft.GraftError as e:
            result.append(e)

    threads = [threading.Thread(target=waiter) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # let them wait; a late one finds the node closed: same answer
    node.close()
    for t in threads:
        t.join(5)
    assert len(result) == 2 and all(isinstance(r, graft.ClosedError) for r in result), result


def test_step_down_reports_the_loss_before_the_state_change(cluster):
    addrs = cluster.addresses(3)
    js = {i: Journal() for i in addrs}
    nodes = [cluster.node(i, addrs, **js[i].kw()) for i in addrs]
    first = one_leader(nodes)
    j = js[first.id]
    wait_until(lambda: j.leases(), 5, "the leader's acquired callback")
    mark = len(j.snapshot())
    first.step_down()
    wait_until(lambda: any(e[0] == "state" for e in j.snapshot()[mark:]), 5, "the step-down's state change")
    after = [e for e in j.snapshot()[mark:] if e[0] in ("lease", "state")]
    assert after[0][:2] == ("lease", False), after
    assert after[1][:3] == ("state", graft.State.LEADER, graft.State.FOLLOWER), after
    old_term = after[0][2].term
    second = one_leader(nodes)
    assert second is not first
    lease = second.wait_lease(timeout=5)
    assert lease is not None and lease.term > old_term
    for n in nodes:
        n.close()
    for i in addrs:
        check_pairs(js[i].snapshot())


def test_loss_arrives_at_the_deadline(cluster):
    addrs = cluster.addresses(3)
    js = {i: Journal() for i in addrs}
    nodes = [cluster.node(i, addrs, **js[i].kw()) for i in addrs]
    leader = one_leader(nodes)
    wait_until(lambda: js[leader.id].leases(), 5, "the acquired callback")
    for n in nodes:
        if n is not leader:
            n.close()  # the leader is cut off: its lease runs out
    lost = wait_until(lambda: [e for e in js[leader.id].leases() if not e[1]], 5, "the loss")[0]
    late = lost[3] - lost[2].deadline
    print(f"on_lease(False) ran {late * 1e3:.2f} ms after the deadline")
    assert -0.002 <= late < 0.5, late  # at the deadline itself, plus the GIL
    assert leader.lease() is None


def test_on_lease_exceptions_are_logged(cluster, caplog):
    def boom(held, lease):
        raise RuntimeError("boom in on_lease")

    with caplog.at_level(logging.ERROR, logger="graft"):
        node = cluster.start(1, on_lease=boom)[0]
        assert node.wait_lease(10) is not None
        wait_until(lambda: "boom in on_lease" in caplog.text, 5, "the logged exception")
    assert node.is_leader


def test_bad_hooks_are_config_errors(cluster):
    addrs = cluster.addresses(1)
    for kw in ({"on_lease": 1}, {"current_position": "x"}, {"grant_vote": 3}):
        with pytest.raises(graft.ConfigError, match=next(iter(kw))):
            cluster.node("n1", addrs, **kw)


def test_vote_hooks_see_positions(cluster):
    addrs = cluster.addresses(3)
    seen = []
    lock = threading.Lock()

    def hooks(i):
        def grant(pos):
            with lock:
                seen.append((i, pos))
            return True

        return dict(current_position=lambda: f"pos-{i}".encode(), grant_vote=grant)

    nodes = [cluster.node(i, addrs, **hooks(i)) for i in addrs]
    leader = one_leader(nodes)
    with lock:
        assert seen and all(pos.startswith(b"pos-n") for _, pos in seen), seen
        assert any(pos == f"pos-{leader.id}".encode() for _, pos in seen), seen


@pytest.mark.parametrize("hook", ["refuse", "raise", "too_long"])
def test_vote_hooks_can_block_every_election(cluster, hook, caplog):
    addrs = cluster.addresses(3)
    if hook == "refuse":
        kw = dict(grant_vote=lambda pos: False)
    elif hook == "raise":
        kw = dict(grant_vote=lambda pos: 1 / 0)
    else:
        kw = dict(current_position=lambda: b"x" * 1025)
    errors: "list[graft.GraftError]" = []
    kw["on_error"] = errors.append
    with caplog.at_level(logging.ERROR, logger="graft"):
        nodes = [cluster.node(i, addrs, **kw) for i in addrs]
        time.sleep(1.0)  # the property is an absence: look for a while (several election timeouts)
        assert all(n.lease() is None for n in nodes)
    if hook == "too_long":
        assert "more than 1024" in caplog.text
        # the application's failure, with a code of its own (not EINTERNAL)
        assert any(isinstance(e, graft.HookError) and e.code == graft.ErrorCode.EHOOK for e in errors), errors
    if hook == "raise":
        assert "ZeroDivisionError" in caplog.text


# test_processes' script for wait_for_leader, waiting in wait_lease instead
WAIT_LEASE_SCRIPT = WAIT_SCRIPT.replace("wait_for_leader(60)", "wait_lease()").replace(
    '"wait_for_leader"', '"wait_lease"')
assert WAIT_LEASE_SCRIPT.count("wait_lease") == 2


def test_ctrl_c_interrupts_wait_lease(certs, tmp_path):
    took = ctrl_c_while_waiting(WAIT_LEASE_SCRIPT, certs, tmp_path)
    print(f"KeyboardInterrupt in wait_lease after {took * 1000:.0f} ms")
    assert took < 1.0, took
