"""graft.aio: wait_lease, events and leading, on the event descriptor."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time

import pytest

import graft
import graft.aio

from conftest import TOP, child_env, free_udp_ports, one_leader, wait_until


def run(coro, timeout=20.0):
    """Run coro in a fresh event loop, bounded by timeout seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_wait_lease_returns_the_lease(cluster):
    node = cluster.start(1)[0]

    async def main():
        lease = await graft.aio.wait_lease(node)
        again = await graft.aio.wait_lease(node, timeout=0.5)  # holds now: at once
        return lease, again

    lease, again = run(main())
    assert lease.valid() and lease.term == node.term and again.term == lease.term


def test_wait_lease_timeout_and_close(cluster):
    addrs = cluster.addresses(3)
    node = cluster.node("n1", addrs)  # its peers never run: no lease

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await graft.aio.wait_lease(node, timeout=0.2)
        waiter = asyncio.ensure_future(graft.aio.wait_lease(node))
        await asyncio.sleep(0.05)
        # close from another thread: the loop is woken, the waiter fails
        t = threading.Thread(target=node.close)
        t.start()
        with pytest.raises(graft.ClosedError):
            await waiter
        t.join()

    run(main())


def test_events_iterate_in_order_and_end_at_close(cluster):
    addrs = cluster.addresses(3)
    nodes = [cluster.node(i, addrs) for i in addrs]

    async def watch(node, out):
        async for ev in graft.aio.events(node):
            out.append(ev)

    async def main():
        logs = {n.id: [] for n in nodes}
        tasks = [asyncio.ensure_future(watch(n, logs[n.id])) for n in nodes]
        leader = None
        while leader is None:
            await asyncio.sleep(0.01)
            leader = next((n for n in nodes if n.is_leader), None)
        lease = await graft.aio.wait_lease(leader)  # with an events() reader: both get events
        await asyncio.sleep(0.05)
        kinds = [e.kind for e in logs[leader.id]]
        assert graft.EventKind.LEASE_ACQUIRED in kinds, logs[leader.id]
        acq = logs[leader.id][kinds.index(graft.EventKind.LEASE_ACQUIRED)]
        assert acq.term == lease.term
        for n in nodes:
            n.close()  # on the loop's thread
        await asyncio.wait_for(asyncio.gather(*tasks), 5)  # every iteration ended
        return logs

    logs = run(main())
    for evs in logs.values():
        terms = [e.term for e in evs]
        assert terms == sorted(terms)


def test_leading_cancels_the_body_on_step_down(cluster):
    nodes = cluster.start(3)
    leader = one_leader(nodes)
    state = {}

    async def main():
        try:
            async with graft.aio.leading(leader) as lease:
                state["lease"] = lease
                asyncio.get_running_loop().call_later(0.1, leader.step_down)
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    state["cancelled"] = time.monotonic()
                    raise
        except graft.LeaseLost as e:
            state["lost"] = e
        # the task is not left cancelled: it can go on awaiting
        await asyncio.sleep(0.01)

    run(main())
    assert "cancelled" in state and isinstance(state["lost"], graft.LeaseLost)
    assert state["lost"].term == state["lease"].term
    assert isinstance(state["lost"], graft.NotLeaderError)


def test_leading_cancels_at_the_deadline_when_cut_off(cluster):
    nodes = cluster.start(3)
    leader = one_leader(nodes)
    times = {}

    async def main():
        with pytest.raises(graft.LeaseLost):
            async with graft.aio.leading(leader):
                for n in nodes:
                    if n is not leader:
                        n.close()  # the leader's lease runs out
                try:
                    while True:
                        lease = leader.lease()
                        if lease is not None:
                            times["deadline"] = lease.deadline
                        await asyncio.sleep(0.002)
                except asyncio.CancelledError:
                    times["cancelled"] = time.monotonic()
                    raise

    run(main())
    late = times["cancelled"] - times["deadline"]
    print(f"body cancelled {late * 1e3:.2f} ms after the last deadline seen")
    assert late < 0.5, late


def test_leading_passes_normal_exits_and_foreign_cancels(cluster):
    node = cluster.start(1)[0]

    async def main():
        async with graft.aio.leading(node) as lease:
            assert lease.valid()
        body = asyncio.ensure_future(hold(node))
        await asyncio.sleep(0.05)
        body.cancel()  # not a loss: stays a cancellation
        with pytest.raises(asyncio.CancelledError):
            await body

    async def hold(n):
        async with graft.aio.leading(n):
            await asyncio.sleep(30)

    run(main())
    assert node.is_leader


def test_leading_after_close_raises_closed(cluster):
    node = cluster.start(1)[0]
    node.close()

    async def main():
        with pytest.raises(graft.ClosedError):
            async with graft.aio.leading(node):
                pass

    run(main())


WORKER = TOP / "examples" / "python" / "asyncio_worker.py"


class Proc:
    """A worker process whose output lines are collected by a thread."""

    def __init__(self, args):
        self.p = subprocess.Popen(args, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.lines.append(line.split())

    def rows(self):
        """The lines as (kind, {key: value}) pairs."""
        with self.lock:
            return [(w[0], dict(f.split("=", 1) for f in w[1:])) for w in self.lines if w]

    def lease_term(self):
        """The term of the lease it holds by its output, else 0."""
        leases = [f for k, f in self.rows() if k == "LEASE"]
        return int(leases[-1]["term"]) if leases and leases[-1]["held"] == "1" else 0

    def work(self, term):
        return [int(f["t"]) for k, f in self.rows() if k == "WORK" and f["token"] == str(term)]


def test_asyncio_workers_pause_resume_no_overlap(certs, tmp_path):
    ids = ["n1", "n2", "n3"]
    addrs = dict(zip(ids, (f"127.0.0.1:{p}" for p in free_udp_ports(3))))
    procs = {}
    try:
        for i in ids:
            args = [sys.executable, str(WORKER), "--id", i, "--listen", addrs[i], "--state", str(tmp_path / f"{i}.graft"),
                    "--certs", str(certs), "--cluster", "aio", "--heartbeat-ms", "20",
                    "--election-min-ms", "120", "--election-max-ms", "180"]
            for j in ids:
                if j != i:
                    args += ["--peer", f"{j}={addrs[j]}"]
            procs[i] = Proc(args)

        def holder(skip=None):
            return next((i for i, p in procs.items() if i != skip and p.lease_term() and p.work(p.lease_term())), None)

        first = wait_until(holder, 20, "a worker that holds the lease and works")
        term1 = procs[first].lease_term()
        procs[first].p.send_signal(signal.SIGSTOP)  # paused past its deadline
        second = wait_until(lambda: holder(skip=first), 20, "another worker taking over")
        seen = len(procs[first].rows())
        procs[first].p.send_signal(signal.SIGCONT)
        wait_until(lambda: procs[first].lease_term() == 0, 10, "the resumed worker reporting its loss")
        after = procs[first].rows()[seen:]
        lost_at = next(n for n, (k, f) in enumerate(after) if k == "LEASE" and f["held"] == "0")
        assert not any(k == "WORK" for k, _ in after[:lost_at]), after
        old, new = procs[first].work(term1), procs[second].work(procs[second].lease_term())
        print(f"{first} last worked at {old[-1]} ms, {second} first at {new[0]} ms (one clock)")
        assert old[-1] < new[0]
        for p in procs.values():
            p.p.send_signal(signal.SIGTERM)
        for i, p in procs.items():
            assert p.p.wait(10) == 0, p.p.stderr.read()
            assert any(k == "EXIT" for k, _ in p.rows()), p.rows()
    finally:
        for p in procs.values():
            if p.p.poll() is None:
                p.p.kill()
                p.p.wait()
