"""Peer addresses: DNS names (resolved at every dial), IPv6, and bad syntax."""

from __future__ import annotations

import pytest

import graft

from conftest import one_leader


def test_peers_by_name_elect(cluster):
    """Peers named "localhost" (resolved from /etc/hosts: no query leaves the machine)."""
    addrs = cluster.addresses(3)
    named = {i: a.replace("127.0.0.1:", "localhost:") for i, a in addrs.items()}
    nodes = [
        cluster.node(i, addrs, peers={p: a for p, a in named.items() if p != i})
        for i in addrs
    ]
    one_leader(nodes, 10.0)


def test_ipv6_peers_elect(cluster):
    addrs = {i: a.replace("127.0.0.1:", "[::1]:") for i, a in cluster.addresses(3).items()}
    nodes = [cluster.node(i, addrs) for i in addrs]
    one_leader(nodes, 10.0)


@pytest.mark.parametrize("bad", ["n2.example:0", "n2 example:7001", "::1:7001", "n2.example:http"])
def test_bad_peer_address_is_config_error(cluster, bad):
    addrs = cluster.addresses(2)
    with pytest.raises(graft.ConfigError, match=f"n2.*{bad.split(':')[0]}"):
        cluster.node("n1", addrs, peers={"n2": bad})
