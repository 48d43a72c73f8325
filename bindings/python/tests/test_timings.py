"""Only the timings the caller gave reach the library; the rest keep
libgraft's defaults (graft_config_set_timeouts: 0 keeps a default)."""

from __future__ import annotations

import pytest

from graft import _node


class RecordTimeouts:
    """Stands for _node.lib: records graft_config_set_timeouts' arguments."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.calls: list = []

    def __getattr__(self, name: str) -> object:
        fn = getattr(self.real, name)
        if name != "graft_config_set_timeouts":
            return fn

        def record(cfg, *ms):
            self.calls.append(ms)
            return fn(cfg, *ms)

        return record


@pytest.mark.parametrize("kw, sent", [
    ({}, []),
    ({"heartbeat": 0.02}, [(20, 0, 0)]),
    ({"election_timeout": (0.3, 0.5)}, [(0, 300, 500)]),
    ({"heartbeat": 0.02, "election_timeout": (0.12, 0.18)}, [(20, 120, 180)]),
])
def test_only_the_timings_given_are_sent(cluster, monkeypatch, kw, sent):
    rec = RecordTimeouts(_node.lib)
    monkeypatch.setattr(_node, "lib", rec)
    addrs = cluster.addresses(1)
    # cluster.node passes short timings by default: start from none.
    node = cluster.node("n1", addrs, **{"heartbeat": None, "election_timeout": None, **kw})
    assert rec.calls == sent
    node.close()
