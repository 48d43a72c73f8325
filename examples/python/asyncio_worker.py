#!/usr/bin/env python3
"""asyncio_worker - leader work in asyncio, cancelled the moment the lease ends.

Shows: ``async with graft.aio.leading(node)`` around the leader's work (the
body is cancelled when the lease is lost, then graft.LeaseLost is raised), the
term as a fencing token, and a clean exit on SIGTERM/SIGINT through the event
loop. No callback runs on a library thread: graft.aio reads the node's event
descriptor on the loop.

Run three (after `make lib`; PYTHONPATH finds the package in the checkout):

    export PYTHONPATH=bindings/python
    python3 -c 'import graft; graft.generate_certs("/tmp/certs", ["n1", "n2", "n3"])'
    python3 examples/python/asyncio_worker.py --id n1 --listen 127.0.0.1:7001 \\
        --peer n2=127.0.0.1:7002 --peer n3=127.0.0.1:7003 \\
        --state /tmp/n1.graft --certs /tmp/certs &
    ... likewise n2 and n3; `kill -STOP` the leader, watch another take over,
    then `kill -CONT` it: it reports the loss before any more work.

Output, one line per event (bindings/python/tests/test_aio.py parses it):

    LEASE t=<CLOCK_MONOTONIC ms> id=<id> held=<0|1> term=<n>
    WORK  t=<ms> id=<id> token=<term> lease_ms=<ms left>
    EXIT  t=<ms> id=<id>
"""

import argparse
import asyncio
import signal
import sys
import time

import graft
import graft.aio


def out(kind: str, rest: str) -> None:
    print(f"{kind} t={time.monotonic_ns() // 1_000_000} {rest}", flush=True)


async def lead(node: graft.Node) -> None:
    """Forever: wait for the lease, work while it holds."""
    while True:
        try:
            async with graft.aio.leading(node) as lease:
                out("LEASE", f"id={node.id} held=1 term={lease.term}")
                while True:
                    # Renewals are silent: ask for the newest deadline, and
                    # never act past it (the loss may reach the loop late).
                    now = node.lease()
                    if now is not None and now.valid():
                        out("WORK", f"id={node.id} token={now.term} lease_ms={int(now.remaining() * 1000)}")
                    await asyncio.sleep(0.05)
        except graft.LeaseLost as lost:
            out("LEASE", f"id={node.id} held=0 term={lost.term}")


async def main() -> int:
    p = argparse.ArgumentParser(description="leader work in asyncio")
    p.add_argument("--id", required=True)
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    p.add_argument("--peer", action="append", default=[], metavar="ID=HOST:PORT")
    p.add_argument("--state", required=True, metavar="FILE")
    p.add_argument("--certs", required=True, metavar="DIR",
                   help="uses DIR/ca.pem, DIR/<id>.pem and DIR/<id>-key.pem")
    p.add_argument("--cluster", default="graft-demo")
    p.add_argument("--heartbeat-ms", type=int, default=50)
    p.add_argument("--election-min-ms", type=int, default=300)
    p.add_argument("--election-max-ms", type=int, default=450)
    a = p.parse_args()
    peers = dict(peer.split("=", 1) for peer in a.peer)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    with graft.Node(a.cluster, a.id, a.listen, peers=peers, state_path=a.state,
                    tls=graft.tls_files(a.certs, a.id), heartbeat=a.heartbeat_ms / 1000,
                    election_timeout=(a.election_min_ms / 1000, a.election_max_ms / 1000)) as node:
        worker = asyncio.ensure_future(lead(node))
        await stop.wait()
        worker.cancel()  # not a loss: the body ends with CancelledError
        try:
            await worker
        except asyncio.CancelledError:
            pass
    # closed by the with-block: a leader handed over first
    out("EXIT", f"id={a.id}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
