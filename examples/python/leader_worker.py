#!/usr/bin/env python3
"""leader_worker - a task that runs on exactly one node of a cluster: the leader.

The Python twin of examples/c/leader_worker.c: same flags, same output.

Shows: building a node, reacting to callbacks, acting only while the lease
holds, using the term as a fencing token, and stepping down cleanly on
SIGTERM/SIGINT so that another node takes over at once.

Run three (after `make lib`; PYTHONPATH finds the package in the checkout):

    export PYTHONPATH=bindings/python
    python3 -c 'import graft; graft.generate_certs("/tmp/certs", ["n1", "n2", "n3"])'
    python3 examples/python/leader_worker.py --id n1 --listen 127.0.0.1:7001 \\
        --peer n2=127.0.0.1:7002 --peer n3=127.0.0.1:7003 \\
        --state /tmp/n1.graft --certs /tmp/certs &
    ... likewise n2 and n3; kill the leader and watch another take over.

Output, one line per event (parsed by `make demo` and the failover tests):

    EVENT t=<CLOCK_MONOTONIC ms> id=<id> kind=state from=<s> state=<s> term=<n> leader=<id or ->
    EVENT t=<ms> id=<id> kind=leader state=<s> term=<n> leader=<id or ->
    WORK  t=<ms> id=<id> token=<term> lease_ms=<ms left>
    ERROR t=<ms> id=<id> code=<n> msg=<text>
    EXIT  t=<ms> id=<id> term=<n> step_down=<rc> close=<rc>
"""

import argparse
import signal
import sys
import threading
import time
from typing import Optional

import graft

# Written by the callbacks only (one at a time, on the library's thread).
leader = "-"
state = graft.State.FOLLOWER


def mono_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def out(line: str) -> None:
    # One write per line, so that lines from the callback thread and the
    # main thread never interleave.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    p = argparse.ArgumentParser(description="a task that runs on the leader only")
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
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    me = a.id

    peers = {}
    for spec in a.peer:
        pid, sep, addr = spec.partition("=")
        if not sep:
            p.error(f"--peer {spec!r}: expected ID=HOST:PORT")
        peers[pid] = addr

    def on_state(old: graft.State, new: graft.State, term: int) -> None:
        global state
        state = new
        out(f"EVENT t={mono_ms()} id={me} kind=state from={old} state={new} term={term} leader={leader}")

    def on_leader(new_leader: Optional[str], term: int) -> None:
        global leader
        leader = new_leader or "-"
        out(f"EVENT t={mono_ms()} id={me} kind=leader state={state} term={term} leader={leader}")

    def on_error(err: graft.GraftError) -> None:
        out(f"ERROR t={mono_ms()} id={me} code={int(err.code)} msg={err.message}")

    def on_log(level: int, message: str) -> None:
        if a.verbose or level >= 30:  # logging.WARNING
            sys.stderr.write(f"LOG id={me} level={level} {message}\n")

    # The host owns SIGINT/SIGTERM: the library never touches them.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    try:
        node = graft.Node(
            a.cluster, me, a.listen, peers=peers, state_path=a.state,
            tls=graft.tls_files(a.certs, me),
            heartbeat=a.heartbeat_ms / 1000,
            election_timeout=(a.election_min_ms / 1000, a.election_max_ms / 1000),
            on_state_change=on_state, on_leader_change=on_leader,
            on_error=on_error, on_log=on_log,
        )
    except graft.GraftError as e:
        print(f"leader_worker: {e} ({type(e).__name__})", file=sys.stderr)
        return 1

    # The task: once per ~200 ms, only while the lease holds. A real task
    # would pass the token to the resource it writes, which rejects writes
    # carrying a term older than the newest it has seen.
    while not stop.is_set():
        lease = node.lease()
        if lease is not None:
            left = lease.remaining()
            if left > 0:
                out(f"WORK t={mono_ms()} id={me} token={lease.term} lease_ms={int(left * 1000)}")
        stop.wait(0.2)  # a signal cuts it short

    # Hand over before leaving: a new leader in one round trip. close would
    # do it too; doing it explicitly shows the result.
    term = node.term
    step_down = int(graft.ErrorCode.ENOTLEADER)
    if node.is_leader:
        try:
            node.step_down()
            step_down = 0
        except graft.GraftError as e:
            step_down = int(e.code)
    close = 0
    try:
        node.close()
    except graft.GraftError as e:
        close = int(e.code)
    out(f"EXIT t={mono_ms()} id={me} term={term} step_down={step_down} close={close}")
    return 0 if close == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
