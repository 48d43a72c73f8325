"""Close from callbacks, Ctrl-C during close, and the interpreter's exit
(issue 19).

Before: two callbacks closing each other's node waited for each other
forever; Ctrl-C during close() waited for the node's running callback; a
Ctrl-C at exit escaped the exit hook (it caught only Exception) and left the
other nodes running into interpreter shutdown; a callback that never
returned made the exit hang; a node started by a callback during the exit
was never closed. Each scenario runs in a child process with a deadline.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from conftest import child_env, free_udp_ports

# Each script gets the certificates folder, a scratch folder and ports; it
# starts single-node clusters (each elects itself) with short timings.
PRELUDE = r"""
import atexit, os, signal, sys, threading, time
nodes = []
# Registered before graft is imported: runs after graft's exit hook.
atexit.register(lambda: print("AFTER-EXIT " + " ".join(f"{n._id}={n.state.name}" for n in nodes), flush=True))
import graft
certs, tmp, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3].split(",")]

def start(i, **kw):
    node = graft.Node(f"c{i}", "n1", f"127.0.0.1:{ports[i]}", state_path=os.path.join(tmp, f"{i}.graft"),
                      tls=graft.tls_files(certs, "n1"), heartbeat=0.02, election_timeout=(0.12, 0.18), **kw)
    nodes.append(node)
    return node

def leading(i):
    return lambda old, new, term: new == graft.State.LEADER and i
"""


def run(certs, tmp_path, script, nports=2, timeout=40.0, interrupt_after=None):
    """Run PRELUDE + script; returns (stdout, stderr, seconds).
    interrupt_after: (marker, delays): once the child printed a line with
    marker, send SIGINT after each delay (seconds after the marker)."""
    ports = ",".join(str(p) for p in free_udp_ports(nports))
    p = subprocess.Popen([sys.executable, "-c", PRELUDE + script, str(certs), str(tmp_path), ports],
                         env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    lines: "list[str]" = []
    seen = threading.Event()

    def read() -> None:
        assert p.stdout is not None
        for line in p.stdout:
            lines.append(line)
            if interrupt_after and interrupt_after[0] in line:
                seen.set()

    errs: "list[str]" = []
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    err_reader = threading.Thread(target=lambda: errs.append(p.stderr.read() if p.stderr else ""), daemon=True)
    err_reader.start()
    try:
        if interrupt_after:
            if not seen.wait(timeout):
                raise subprocess.TimeoutExpired(p.args, timeout)
            marked = time.monotonic()
            for delay in interrupt_after[1]:
                time.sleep(max(0.0, marked + delay - time.monotonic()))  # into the step the marker announced
                p.send_signal(signal.SIGINT)
        p.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        reader.join(5)
        err_reader.join(5)
        raise AssertionError(f"the child hung for {timeout} s\nstdout: {''.join(lines)}\nstderr: {''.join(errs)[-3000:]}")
    reader.join(5)
    err_reader.join(5)
    out, err = "".join(lines), "".join(errs)
    took = time.monotonic() - t0
    assert "Segmentation" not in err and "SIGSEGV" not in err, err[-3000:]
    return out, err, took


def test_callbacks_closing_each_others_node_both_return(certs, tmp_path):
    out, err, _ = run(certs, tmp_path, r"""
inside = threading.Barrier(2)
done = []
other = {}
def closer(me):
    def cb(old, new, term):
        if new == graft.State.CLOSED:
            print(f"{me} CLOSED", flush=True)
        if new != graft.State.LEADER or me in done:
            return
        inside.wait(10)  # both callbacks run now
        while me not in other:
            time.sleep(0.001)
        other[me].close()
        done.append(me)
        print(f"{me} closed the other", flush=True)
    return cb
a = start(0, on_state_change=closer("a"))
b = start(1, on_state_change=closer("b"))
other["a"], other["b"] = b, a
t0 = time.monotonic()
while len(done) < 2 and time.monotonic() - t0 < 20:
    time.sleep(0.01)
print("DONE", sorted(done), a.state.name, b.state.name, flush=True)
""")
    assert "DONE ['a', 'b'] CLOSED CLOSED" in out, f"{out}\n{err[-3000:]}"
    assert "a CLOSED" in out and "b CLOSED" in out, out


def test_ctrl_c_during_close_raises_at_once(certs, tmp_path):
    out, err, took = run(certs, tmp_path, r"""
ready = threading.Event()
def slow(old, new, term):
    if new == graft.State.LEADER:
        ready.set()
        time.sleep(60)  # a callback that takes a minute
n = start(0, on_state_change=slow)
ready.wait(10)
t0 = time.monotonic()
print("CLOSING", flush=True)
try:
    n.close()
    print("CLOSED without interrupt", flush=True)
except KeyboardInterrupt:
    print(f"INTERRUPTED after {time.monotonic() - t0:.2f} s, state {n.state.name}", flush=True)
os._exit(0)  # the exit itself is another test
""", nports=1, interrupt_after=("CLOSING", [0.3]))
    assert "INTERRUPTED after" in out, f"{out}\n{err[-3000:]}"
    after = float(out.split("INTERRUPTED after ")[1].split(" s")[0])
    assert after < 5, out
    assert "state CLOSED" in out, out  # the election stopped all the same
    print(out.strip())


def test_exit_with_a_callback_that_never_returns_ends(certs, tmp_path):
    out, err, took = run(certs, tmp_path, r"""
ready = threading.Event()
def stuck(old, new, term):
    if new == graft.State.LEADER:
        ready.set()
        threading.Event().wait()  # never returns
n = start(0, on_state_change=stuck)
ready.wait(10)
print("EXITING", flush=True)
""", nports=1, timeout=40)
    assert "EXITING" in out, out
    assert "AFTER-EXIT n1=CLOSED" in out, f"{out}\n{err[-3000:]}"
    assert took < 20, took
    print(f"exit took {took:.1f} s in all")


def test_ctrl_c_at_exit_still_closes_every_node(certs, tmp_path):
    out, err, took = run(certs, tmp_path, r"""
ready = []
def slow(old, new, term):
    if new == graft.State.LEADER:
        ready.append(1)
        time.sleep(3)  # each close waits for this callback
for i in range(3):
    start(i, on_state_change=slow)
while len(ready) < 3:
    time.sleep(0.01)
print("EXITING", flush=True)
""", nports=3, interrupt_after=("EXITING", [0.3, 0.6]), timeout=40)
    assert "AFTER-EXIT" in out, f"{out}\n{err[-3000:]}"
    states = out.split("AFTER-EXIT ")[1].split()
    assert len(states) == 3 and all(s.endswith("=CLOSED") for s in states), f"{out}\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]


def test_a_node_started_by_a_callback_during_exit_is_refused(certs, tmp_path):
    out, err, _ = run(certs, tmp_path, r"""
def on_closed(old, new, term):
    if new == graft.State.CLOSED:
        try:
            start(1)
            print("STARTED during exit", flush=True)
        except graft.ClosedError as e:
            print("REFUSED", e, flush=True)
n = start(0, on_state_change=on_closed)
n.wait_for_leader(10)
""")
    assert "REFUSED" in out, f"{out}\n{err[-3000:]}"
    assert "AFTER-EXIT n1=CLOSED" in out and "STARTED" not in out, out


def test_exit_after_slow_callbacks_while_leadership_moves_is_quick(certs, tmp_path):
    # 50 ms callbacks on three nodes of one cluster while step_down moves
    # leadership for 2 s: before, each node's queue grew without bound and
    # the exit ran all of it (80 s in the run); now the queue stays
    # at most 256, the rest is coalesced, and exit closes with no backlog.
    out, err, took = run(certs, tmp_path, r"""
ids = ["n1", "n2", "n3"]
addrs = {i: f"127.0.0.1:{ports[k]}" for k, i in enumerate(ids)}
slow = lambda *a: time.sleep(0.05)
ns = [graft.Node("moving", i, addrs[i], peers={p: a for p, a in addrs.items() if p != i},
                 state_path=os.path.join(tmp, f"{i}.graft"), tls=graft.tls_files(certs, i),
                 heartbeat=0.02, election_timeout=(0.12, 0.18), on_state_change=slow,
                 on_leader_change=slow, on_log=slow, log_level=10) for i in ids]
nodes.extend(ns)
ns[0].wait_for_leader(10)
moves, queued, end = 0, 0, time.monotonic() + 2
while time.monotonic() < end:
    for n in ns:
        if n.is_leader:
            try:
                n.step_down()
                moves += 1
            except graft.GraftError:
                pass
        queued = max(queued, n.stats().callbacks_queued)
    time.sleep(0.001)
dropped = sum(getattr(n.stats(), "callbacks_dropped", -1) for n in ns)
print(f"MOVED {moves} times, at most {queued} queued, {dropped} dropped", flush=True)
print(f"EXIT-START {time.monotonic()}", flush=True)  # one clock with the parent's
""", nports=3, timeout=60)
    ended = time.monotonic()
    assert "MOVED" in out, f"{out}\n{err[-3000:]}"
    print(out.split("\n")[0])
    queued = int(out.split("at most ")[1].split(" ")[0])
    assert queued <= 256, out
    exit_s = ended - float(out.split("EXIT-START ")[1].split()[0])
    states = out.split("AFTER-EXIT ")[1].split()
    assert all(s.endswith("=CLOSED") for s in states), out
    print(f"exit took {exit_s:.2f} s")
    assert exit_s < 10, f"the exit took {exit_s:.1f} s: {out}"
