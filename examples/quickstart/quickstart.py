"""quickstart.py - one node of a 3-node cluster; prints its fencing token while it leads.

Run: make certs; python3 quickstart.py n1 & python3 quickstart.py n2 & python3 quickstart.py n3
"""
import sys
import time

import graft

addrs = {"n1": "127.0.0.1:7201", "n2": "127.0.0.1:7202", "n3": "127.0.0.1:7203"}
me = sys.argv[1]
peers = {i: a for i, a in addrs.items() if i != me}

with graft.Node("quickstart", me, addrs[me], peers=peers,
                state_path=f"/tmp/quickstart-py-{me}.state",
                tls=graft.tls_files("build/certs", me),
                on_leader_change=lambda leader, term: print(f"leader {leader} at term {term}")) as node:
    while True:  # act only while the lease holds
        lease = node.lease()
        if lease:
            print(f"{me} leads: fencing token {lease.term}")
        time.sleep(1)
