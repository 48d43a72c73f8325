"""Ctrl-C at any instant of ``graft.Node()``.

A SIGINT during the ~3 ms of graft_node_new raised KeyboardInterrupt as the
call returned, before the handle was stored: the node ran on with nobody
holding it (its port and state file stayed taken), and when the half-built
object was collected, Go called a freed ctypes callback (SIGSEGV in
graft__call_state). 200 interrupted starts crashed the process every time
(issue 19).
"""

from __future__ import annotations

import socket
import subprocess
import sys

import graft

from conftest import FAST, child_env, free_udp_ports

STARTS = 200

# Starts a node 200 times on one port and one state file, with a SIGINT sent
# to the main thread at a random instant of each start (before, during or
# after graft_node_new). An orphan node of an earlier start would hold the
# port or the state file's lock, so the next start would fail.
LOOP_SCRIPT = r"""
import random, signal, sys, threading, time
import graft

listen, state, certs, starts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
main = threading.main_thread().ident

def start():
    return graft.Node("ctrlc", "n1", listen, state_path=state, tls=graft.tls_files(certs, "n1"),
                      heartbeat=0.02, election_timeout=(0.12, 0.18))

took = 1.0
for _ in range(3):
    t0 = time.perf_counter()
    start().close()
    took = min(took, time.perf_counter() - t0)
rng = random.Random(19)
in_start = 0
for i in range(starts):
    delay = rng.uniform(0, took)
    killer = threading.Thread(target=lambda: (time.sleep(delay), signal.pthread_kill(main, signal.SIGINT)))
    node = None
    try:
        killer.start()
        node = start()
        killer.join()
        time.sleep(0.005)  # the signal is handled here at the latest
    except KeyboardInterrupt:
        in_start += node is None
        killer.join()
    if node is not None:
        node.close()
    del node

node = start()  # port and state file free: no orphan is left
leader = node.wait_for_leader(5)
node.close()
print(f"DONE {starts} starts, {in_start} interrupted inside Node(), start takes {took * 1000:.1f} ms, leader {leader}", flush=True)
"""


def test_ctrl_c_during_start_leaves_no_orphan(certs, tmp_path):
    port = free_udp_ports(1)[0]
    state = tmp_path / "n1.graft"
    r = subprocess.run([sys.executable, "-c", LOOP_SCRIPT, f"127.0.0.1:{port}", str(state), str(certs), str(STARTS)],
                       env=child_env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-3000:]}"
    assert r.stdout.startswith(f"DONE {STARTS} starts"), r.stdout
    assert "Traceback" not in r.stderr and "SIGSEGV" not in r.stderr, r.stderr[-3000:]
    print(r.stdout.strip())
    # After the process: its port and its state file's lock are free.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
    finally:
        s.close()
    with graft.Node("ctrlc", "n1", f"127.0.0.1:{port}", state_path=str(state),
                    tls=graft.tls_files(certs, "n1"), **FAST) as node:
        assert node.wait_for_leader(5) == "n1"
