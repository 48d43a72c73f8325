"""priority= and succession_delay= (issue 16): what reaches the library, and
the succession statistics. The clusters that show the rules at work are in
test_succession_cluster.py."""

from __future__ import annotations

import pytest

from graft import _node


class Record:
    """Stands for _node.lib: records the calls of the two succession setters."""

    NAMES = ("graft_config_set_priority", "graft_config_set_succession_delay")

    def __init__(self, real: object) -> None:
        self.real = real
        self.calls: list = []

    def __getattr__(self, name: str) -> object:
        fn = getattr(self.real, name)
        if name not in self.NAMES:
            return fn

        def record(cfg, value):
            self.calls.append((name.rsplit("_set_", 1)[1], value))
            return fn(cfg, value)

        return record


@pytest.mark.parametrize("kw, sent", [
    ({}, []),
    ({"priority": 1}, []),  # the library's default: nothing to send
    ({"priority": 2}, [("priority", 2)]),
    ({"priority": 2**32 - 1}, [("priority", 2**32 - 1)]),
    ({"priority": 0}, [("priority", 0)]),  # a witness (it has peers here)
    ({"succession_delay": 0.005}, [("succession_delay", 5)]),
    ({"priority": 3, "succession_delay": 0.02}, [("priority", 3), ("succession_delay", 20)]),
])
def test_only_the_settings_given_are_sent(cluster, monkeypatch, kw, sent):
    rec = Record(_node.lib)
    monkeypatch.setattr(_node, "lib", rec)
    addrs = cluster.addresses(3)
    node = cluster.node("n1", addrs, **kw)
    assert rec.calls == sent
    node.close()


def test_a_lone_leader_has_no_rank_no_successor_no_takeover(cluster):
    node = cluster.node("n1", cluster.addresses(1), priority=5)
    assert node.wait_for_leader(5.0) == "n1"
    s = node.stats()
    assert (s.rank, s.successor, s.priority_takeovers) == (0, None, 0)
