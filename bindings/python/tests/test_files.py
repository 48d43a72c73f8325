"""The files a node and generate_certs use: one node per state file, and
certificate file names that fit (issue 19)."""

from __future__ import annotations

import os

import pytest

import graft



def test_second_node_on_a_state_file_is_refused(cluster):
    addrs = cluster.addresses(2)
    first = cluster.node("n1", addrs, cluster="a")
    state = str(cluster.tmp / "n1.graft")
    # Another cluster's node given the same file would overwrite the term.
    with pytest.raises(graft.StorageError) as e:
        cluster.node("n2", addrs, cluster="b", state_path=state)
    assert state in e.value.message and f"pid {os.getpid()}" in e.value.message, e.value.message
    print(e.value.message)
    first.close()
    second = cluster.node("n2", addrs, cluster="b", state_path=state)  # the lock went with close
    assert second.state != graft.State.CLOSED


def test_generate_certs_says_the_id_limit(tmp_path):
    with pytest.raises(graft.ConfigError) as e:
        graft.generate_certs(tmp_path, ["a" * 248])
    assert "247" in e.value.message, e.value.message
    assert not any(tmp_path.iterdir()), "nothing is written"
    graft.generate_certs(tmp_path, ["b" * 247])
    assert (tmp_path / ("b" * 247 + "-key.pem")).exists()
