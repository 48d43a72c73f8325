"""Real processes: a 3-process cluster of examples/python/leader_worker.py
(leader killed by SIGKILL, then a clean SIGTERM handover), and Ctrl-C
during wait_for_leader."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

import pytest

from conftest import ELECTION, HEARTBEAT, IDS, WORKER, child_env, free_udp_ports

# Failover after SIGKILL: the followers notice within election_max (plus a
# pre-vote and a vote round trip); the bound leaves room for a loaded CI box.
FAILOVER_BOUND = 1.5
EVENT = re.compile(r"^(EVENT|WORK|ERROR|EXIT) t=(\d+) id=(\S+) (.*)$")


class Worker:
    """One leader_worker.py process; its stdout lines are parsed as they come."""

    def __init__(self, node_id: str, addrs: Dict[str, str], certs, tmp) -> None:
        self.id = node_id
        args = [sys.executable, str(WORKER), "--id", node_id, "--listen", addrs[node_id],
                "--state", str(tmp / f"{node_id}.graft"), "--certs", str(certs), "--cluster", "procs",
                "--heartbeat-ms", str(int(HEARTBEAT * 1000)),
                "--election-min-ms", str(int(ELECTION[0] * 1000)),
                "--election-max-ms", str(int(ELECTION[1] * 1000))]
        for i, a in addrs.items():
            if i != node_id:
                args += ["--peer", f"{i}={a}"]
        self.proc = subprocess.Popen(args, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: List[str] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def events(self) -> List[Dict[str, str]]:
        with self.lock:
            lines = list(self.lines)
        out = []
        for line in lines:
            m = EVENT.match(line)
            if m:
                ev = dict(kv.split("=", 1) for kv in m.group(4).split(" ") if "=" in kv)
                ev.update(type=m.group(1), t=m.group(2), id=m.group(3))
                out.append(ev)
        return out

    def leads_at(self, min_term: int = 1) -> Optional[int]:
        """The term at which it last became leader (>= min_term), or None."""
        terms = [int(e["term"]) for e in self.events()
                 if e["type"] == "EVENT" and e.get("kind") == "state" and e.get("state") == "leader"]
        terms = [t for t in terms if t >= min_term]
        return terms[-1] if terms else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.005)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def workers(certs, tmp_path):
    addrs = {i: f"127.0.0.1:{p}" for i, p in zip(IDS, free_udp_ports(3))}
    ws = [Worker(i, addrs, certs, tmp_path) for i in addrs]
    yield ws
    for w in ws:
        w.stop()


def current_leader(ws: List[Worker], min_term: int = 1) -> Optional[Worker]:
    live = [w for w in ws if w.proc.poll() is None]
    best = max(live, key=lambda w: w.leads_at(min_term) or 0, default=None)
    return best if best is not None and best.leads_at(min_term) else None


def test_leader_killed_failover(workers):
    first = wait_for(lambda: current_leader(workers), 10.0, "a first leader")
    term = first.leads_at()
    wait_for(lambda: any(e["type"] == "WORK" for e in first.events()), 2.0, "leader-only work")
    t0 = time.monotonic()
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(5)
    rest = [w for w in workers if w is not first]
    second = wait_for(lambda: current_leader(rest, term + 1), 5.0, "a new leader after SIGKILL")
    took = time.monotonic() - t0
    assert second.leads_at(term + 1) > term
    # Only the new leader works from now on.
    wait_for(lambda: any(e["type"] == "WORK" and int(e["token"]) > term for e in second.events()), 2.0,
             "work under the new term")
    other = next(w for w in rest if w is not second)
    assert not any(e["type"] == "WORK" for e in other.events())
    print(f"leader {first.id} (term {term}) killed: {second.id} leads after {took * 1000:.0f} ms")
    assert took < FAILOVER_BOUND, f"failover took {took:.3f} s (bound {FAILOVER_BOUND} s)"


def test_sigterm_hands_over(workers):
    first = wait_for(lambda: current_leader(workers), 10.0, "a first leader")
    term = first.leads_at()
    t0 = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(5) == 0
    rest = [w for w in workers if w is not first]
    second = wait_for(lambda: current_leader(rest, term + 1), 5.0, "a new leader after SIGTERM")
    took = time.monotonic() - t0
    exits = [e for e in first.events() if e["type"] == "EXIT"]
    assert exits and exits[0]["step_down"] == "0" and exits[0]["close"] == "0", first.lines
    print(f"{first.id} handed over to {second.id} in {took * 1000:.0f} ms")
    assert took < FAILOVER_BOUND


WAIT_SCRIPT = r"""
import sys, threading, time, graft
node = graft.Node("lonely", "n1", sys.argv[1], peers={"n2": sys.argv[2], "n3": sys.argv[3]},
                  state_path=sys.argv[4], tls=graft.tls_files(sys.argv[5], "n1"),
                  heartbeat=0.02, election_timeout=(0.12, 0.18))
main = threading.get_ident()

def announce():  # says WAITING once the main thread is inside wait_for_leader
    while True:
        f = sys._current_frames().get(main)
        while f is not None and f.f_code.co_name != "wait_for_leader":
            f = f.f_back
        if f is not None:
            print("WAITING", flush=True)
            return
        time.sleep(0.001)  # pacing of the poll

threading.Thread(target=announce, daemon=True).start()
try:
    node.wait_for_leader(60)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)  # raised inside wait_for_leader
    raise
"""


def ctrl_c_while_waiting(script: str, certs, tmp_path) -> float:
    """Run script (a lonely node of three waiting in a wait call; it prints
    WAITING once inside it, INTERRUPTED when KeyboardInterrupt reaches it),
    send SIGINT once it waits, and return the seconds to INTERRUPTED; the
    process must then exit with the KeyboardInterrupt."""
    ports = free_udp_ports(3)
    args = [sys.executable, "-c", script] + [f"127.0.0.1:{p}" for p in ports] + \
        [str(tmp_path / "n1.graft"), str(certs)]
    p = subprocess.Popen(args, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "WAITING"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        line = [""]
        reader = threading.Thread(target=lambda: line.__setitem__(0, p.stdout.readline()), daemon=True)
        reader.start()
        reader.join(10)  # never hang the suite on a child that missed it
        took = time.monotonic() - t0
        assert line[0].strip() == "INTERRUPTED", line
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("the interrupted process did not exit within 10 s")
        assert "KeyboardInterrupt" in err, err
        assert p.returncode != 0
        return took
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ctrl_c_interrupts_wait_for_leader(certs, tmp_path):
    took = ctrl_c_while_waiting(WAIT_SCRIPT, certs, tmp_path)
    print(f"KeyboardInterrupt in wait_for_leader after {took * 1000:.0f} ms")
    assert took < 1.0, f"took {took:.3f} s"


EXIT_SCRIPT = r"""
import sys, graft
addrs = dict(zip(["n1", "n2", "n3"], sys.argv[1:4]))
events = []
nodes = [graft.Node("atexit", i, addrs[i], peers={j: a for j, a in addrs.items() if j != i},
                    state_path=f"{sys.argv[4]}/{i}.graft", tls=graft.tls_files(sys.argv[5], i),
                    heartbeat=0.02, election_timeout=(0.12, 0.18),
                    on_state_change=lambda o, n, t: events.append(n))
         for i in addrs]
print("LEADER", nodes[0].wait_for_leader(5), flush=True)
# Leave with every node open and callbacks set: the exit hook closes them
# before the interpreter goes away.
"""


def test_exit_with_open_nodes_is_clean(certs, tmp_path):
    addrs = [f"127.0.0.1:{p}" for p in free_udp_ports(3)]
    r = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, *addrs, str(tmp_path), str(certs)],
                       env=child_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("LEADER n"), r.stdout
    assert "Traceback" not in r.stderr and "panic" not in r.stderr, r.stderr
