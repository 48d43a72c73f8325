"""quickstart.py - one node of a 3-node cluster; prints its fencing token while it leads.

Run: make certs; python3 quickstart.py n1 & python3 quickstart.py n2 & python3 quickstart.py n3
"""
import asyncio
import sys

import graft
import graft.aio

addrs = {"n1": "127.0.0.1:7201", "n2": "127.0.0.1:7202", "n3": "127.0.0.1:7203"}
me = sys.argv[1]
peers = {i: a for i, a in addrs.items() if i != me}


async def main():
    with graft.Node("quickstart", me, addrs[me], peers=peers,
                    state_path=f"/tmp/quickstart-py-{me}.state",
                    tls=graft.tls_files("build/certs", me)) as node:
        while True:
            try:
                async with graft.aio.leading(node) as lease:  # the body is cancelled when the lease is lost
                    print(f"{me} leads: fencing token {lease.term}", flush=True)
                    await asyncio.Event().wait()  # leader work goes here
            except graft.LeaseLost:
                print(f"{me} lost the lease", flush=True)


asyncio.run(main())
