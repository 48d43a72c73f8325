"""Fixtures for the graft binding tests.

Certificates are made once per session with graft.generate_certs; every node
listens on a free UDP port of 127.0.0.1; timings are short (heartbeat 20 ms,
election 120-180 ms) so that an election takes a fraction of a second. Tests
wait on conditions with deadlines (:func:`wait_until`), never on bare sleeps.

With GRAFT_FAIL_ON_SKIP=1 (set by `make test-python`) a skipped test fails the
run: a missing tool must never pass silently.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, TypeVar

import pytest

import graft

# A shell that starts a job in the background (CI runners, `nohup ... &`)
# starts it with SIGINT ignored, and an ignored signal stays ignored in every
# child: the Ctrl-C tests' children would never see theirs. A handler here
# is reset to the default in each child at exec, so they get KeyboardInterrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent.parent
WORKER = TOP / "examples" / "python" / "leader_worker.py"

HEARTBEAT = 0.02
ELECTION = (0.12, 0.18)
FAST = dict(heartbeat=HEARTBEAT, election_timeout=ELECTION)
IDS = ["n1", "n2", "n3", "n4", "n5"]

T = TypeVar("T")


def wait_until(cond: Callable[[], T], timeout: float, what: str, interval: float = 0.005) -> T:
    """Poll cond() until it returns a true value (returned) or fail after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_udp_ports(n: int) -> List[int]:
    """n distinct UDP ports of 127.0.0.1 free at the time of the call."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def child_env() -> Dict[str, str]:
    """The environment for a Python child process: finds package and library."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ca.pem and n1..n5 certificates and keys."""
    d = tmp_path_factory.mktemp("certs")
    graft.generate_certs(d, IDS)
    return d


@pytest.fixture(scope="session")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Certificates for the same ids signed by another CA."""
    d = tmp_path_factory.mktemp("other-certs")
    graft.generate_certs(d, IDS)
    return d


class ClusterFactory:
    """Makes nodes of one cluster in this process and closes them at the end."""

    def __init__(self, certs: Path, tmp: Path) -> None:
        self.certs = certs
        self.tmp = tmp
        self.nodes: List[graft.Node] = []

    def addresses(self, n: int) -> Dict[str, str]:
        return {IDS[i]: f"127.0.0.1:{p}" for i, p in enumerate(free_udp_ports(n))}

    def node(self, node_id: str, addrs: Dict[str, str], cluster: str = "test", **kw: object) -> graft.Node:
        args: Dict[str, object] = dict(FAST)
        args.update(
            peers={i: a for i, a in addrs.items() if i != node_id},
            state_path=str(self.tmp / f"{node_id}.graft"),
            tls=graft.tls_files(self.certs, node_id),
        )
        args.update(kw)
        node = graft.Node(cluster, node_id, addrs[node_id], **args)  # type: ignore[arg-type]
        self.nodes.append(node)
        return node

    def start(self, n: int = 3, **kw: object) -> List[graft.Node]:
        addrs = self.addresses(n)
        return [self.node(i, addrs, **kw) for i in addrs]

    def close(self) -> None:
        """Close every node, concurrently (a close can take up to ~1 s)."""

        def close(node: graft.Node) -> None:
            try:
                node.close()
            except graft.GraftError:
                pass

        threads = [threading.Thread(target=close, args=(n,)) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)


@pytest.fixture
def cluster(certs: Path, tmp_path: Path) -> Iterator[ClusterFactory]:
    """A ClusterFactory; every node it made is closed after the test."""
    f = ClusterFactory(certs, tmp_path)
    yield f
    f.close()


def leaders(nodes: List[graft.Node]) -> List[graft.Node]:
    """The nodes that answer is_leader (at most one, always)."""
    return [n for n in nodes if n.is_leader]


def one_leader(nodes: List[graft.Node], timeout: float = 3.0) -> graft.Node:
    """Wait until exactly one node leads and every other follows it."""

    def check() -> Optional[graft.Node]:
        ls = leaders(nodes)
        if len(ls) != 1:
            return None
        if any(n.leader != ls[0].id for n in nodes):
            return None
        return ls[0]

    return wait_until(check, timeout, "exactly one leader known to all")


# --- fail the run on any skip when asked -----------------------------------

_skipped: List[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and os.environ.get("GRAFT_FAIL_ON_SKIP") == "1":
        sys.stderr.write("\ngraft: tests were skipped (GRAFT_FAIL_ON_SKIP=1): " + ", ".join(_skipped) + "\n")
        session.exitstatus = 1
