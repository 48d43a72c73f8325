"""Every misuse raises the right exception, with the library's message."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
import threading

import pytest

import graft

from conftest import HERE, child_env, one_leader, wait_until


def make(cluster, addrs, **kw):
    return cluster.node("n1", addrs, **kw)


# (keyword overrides, exception, a piece of the message naming the field)
BAD_CONFIGS = [
    (dict(cluster=""), graft.ConfigError, "Cluster"),
    (dict(cluster=7), graft.ConfigError, "cluster"),
    (dict(node_id=""), graft.ConfigError, "ID"),
    (dict(node_id="-x"), graft.ConfigError, "-x"),
    (dict(node_id="ca"), graft.ConfigError, "ca"),
    (dict(node_id="n\0x"), graft.ConfigError, "NUL"),
    (dict(listen="nonsense"), graft.ConfigError, "nonsense"),
    (dict(peers={"n1": "127.0.0.1:1"}), graft.ConfigError, "itself"),
    (dict(peers={"n2": ""}), graft.ConfigError, "n2"),
    (dict(peers=["n2"]), graft.ConfigError, "peers"),
    (dict(state_path=None), graft.ConfigError, "StatePath"),
    (dict(tls=None), graft.ConfigError, "TLS"),
    (dict(tls=("a.pem", "b.pem")), graft.ConfigError, "tls"),
    (dict(tls="certs"), graft.ConfigError, "tls"),
    (dict(heartbeat=0), graft.ConfigError, "heartbeat"),
    (dict(heartbeat=-1.0), graft.ConfigError, "heartbeat"),
    (dict(heartbeat="fast"), graft.ConfigError, "heartbeat"),
    (dict(heartbeat=float("nan")), graft.ConfigError, "heartbeat"),
    (dict(heartbeat=0.0001), graft.ConfigError, "heartbeat"),
    (dict(heartbeat=0.05, election_timeout=(0.1, 0.2)), graft.ConfigError, "Heartbeat"),
    (dict(election_timeout=(0.2, 0.15)), graft.ConfigError, "ElectionMax"),
    (dict(election_timeout=0.3), graft.ConfigError, "election_timeout"),
    (dict(election_timeout=(0.3,)), graft.ConfigError, "election_timeout"),
    (dict(election_timeout=(0.12, 1e10)), graft.ConfigError, "election_timeout"),
    (dict(max_clock_drift=0.5), graft.ConfigError, "MaxClockDrift"),
    (dict(max_clock_drift="1%"), graft.ConfigError, "max_clock_drift"),
    (dict(priority=-1), graft.ConfigError, "priority"),
    (dict(priority=2**32), graft.ConfigError, "priority"),
    (dict(priority=1.5), graft.ConfigError, "priority"),
    (dict(priority=True), graft.ConfigError, "priority"),
    (dict(priority="2"), graft.ConfigError, "priority"),
    (dict(priority=None), graft.ConfigError, "priority"),
    (dict(priority=0, peers={}), graft.ConfigError, "a cluster needs a node that can lead"),
    (dict(succession_delay=0), graft.ConfigError, "succession_delay"),
    (dict(succession_delay=-0.01), graft.ConfigError, "succession_delay"),
    (dict(succession_delay="10ms"), graft.ConfigError, "succession_delay"),
    (dict(succession_delay=1e10), graft.ConfigError, "succession_delay"),
    (dict(succession_delay=0.06), graft.ConfigError, "SuccessionDelay"),  # 0.12 + 0.06 is not below 0.18
    (dict(succession_delay=86400.0), graft.ConfigError, "SuccessionDelay"),
    (dict(on_state_change="print"), graft.ConfigError, "on_state_change"),
    (dict(on_log=42), graft.ConfigError, "on_log"),
]


@pytest.mark.parametrize("kw,exc,field", BAD_CONFIGS, ids=[repr(k) for k, _, _ in BAD_CONFIGS])
def test_bad_config_field(cluster, certs, tmp_path, kw, exc, field):
    addrs = cluster.addresses(3)
    args = dict(cluster="test", node_id="n1", listen=addrs["n1"])
    pos = {k: kw.pop(k) for k in ("cluster", "node_id", "listen") if k in kw}
    args.update(pos)
    opts = dict(peers={k: v for k, v in addrs.items() if k != "n1"}, state_path=str(tmp_path / "n1.graft"),
                tls=graft.tls_files(certs, "n1"), heartbeat=0.02, election_timeout=(0.12, 0.18))
    opts.update(kw)
    with pytest.raises(exc) as e:
        graft.Node(args["cluster"], args["node_id"], args["listen"], **opts)
    assert isinstance(e.value, ValueError)  # ConfigError is a ValueError too
    assert e.value.code == graft.ErrorCode.EINVAL
    assert field in str(e.value), str(e.value)


def test_double_close_is_a_no_op(cluster):
    node = make(cluster, cluster.addresses(3))
    node.close()
    node.close()
    assert node.state is graft.State.CLOSED


@pytest.mark.parametrize("use", [
    lambda n: n.term,
    lambda n: n.leader,
    lambda n: n.lease(),
    lambda n: n.stats(),
    lambda n: n.step_down(),
    lambda n: n.wait_for_leader(0.1),
])
def test_use_after_close_raises_closed(cluster, use):
    node = make(cluster, cluster.addresses(3))
    node.close()
    with pytest.raises(graft.ClosedError) as e:
        use(node)
    assert e.value.code == graft.ErrorCode.ECLOSED and "closed" in str(e.value)
    # The two polling answers stay safe instead of raising.
    assert node.state is graft.State.CLOSED and node.is_leader is False


def test_wait_for_leader_wakes_on_close_from_another_thread(cluster):
    node = make(cluster, cluster.addresses(3))  # no quorum: never a leader
    threading.Timer(0.1, node.close).start()
    with pytest.raises(graft.ClosedError):
        node.wait_for_leader(5.0)


def test_missing_certificate_raises_tls(cluster, certs, tmp_path):
    with pytest.raises(graft.TLSError) as e:
        make(cluster, cluster.addresses(3), tls=(tmp_path / "none.pem", certs / "n1-key.pem", certs / "ca.pem"))
    assert "none.pem" in str(e.value)


def test_garbage_certificate_raises_tls(cluster, certs, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(graft.TLSError) as e:
        make(cluster, cluster.addresses(3), tls=(bad, certs / "n1-key.pem", certs / "ca.pem"))
    assert str(bad) in str(e.value)


def test_certificate_of_another_node_raises_tls(cluster, certs):
    with pytest.raises(graft.TLSError) as e:
        make(cluster, cluster.addresses(3), tls=graft.tls_files(certs, "n2"))
    assert "n2" in str(e.value)


def test_key_of_another_node_raises_tls(cluster, certs):
    with pytest.raises(graft.TLSError):
        make(cluster, cluster.addresses(3), tls=(certs / "n1.pem", certs / "n2-key.pem", certs / "ca.pem"))


def test_corrupt_state_file_raises_storage_with_path(cluster, tmp_path):
    state = tmp_path / "corrupt.graft"
    state.write_bytes(b"\x00garbage, not a graft state file\xff" * 3)
    with pytest.raises(graft.StorageError) as e:
        make(cluster, cluster.addresses(3), state_path=state)
    assert str(state) in str(e.value)
    assert state.read_bytes().startswith(b"\x00garbage")  # never silently reset


def test_state_file_in_missing_folder_raises_storage(cluster, tmp_path):
    folder = tmp_path / "no" / "such"
    with pytest.raises(graft.StorageError) as e:
        make(cluster, cluster.addresses(3), state_path=folder / "n1.graft")
    assert str(folder) in str(e.value)


def test_listen_address_in_use_raises_network(cluster, tmp_path):
    addrs = cluster.addresses(3)
    make(cluster, addrs)
    with pytest.raises(graft.NetworkError) as e:
        cluster.node("n1", addrs, state_path=tmp_path / "second.graft")
    assert addrs["n1"].split(":")[1] in str(e.value)


def test_close_from_own_callback_raises_busy(cluster):
    caught = []
    addrs = cluster.addresses(3)
    nodes = []
    for i in addrs:
        me = {}

        def on_state(old, new, term, me=me):
            if new is graft.State.LEADER:
                try:
                    me["node"].close()
                except BaseException as exc:  # noqa: BLE001 - recorded, checked below
                    caught.append(exc)

        me["node"] = cluster.node(i, addrs, on_state_change=on_state)
        nodes.append(me["node"])
    wait_until(lambda: caught, 3.0, "close() called from a callback")
    assert isinstance(caught[0], graft.BusyError) and isinstance(caught[0], RuntimeError)
    assert caught[0].code == graft.ErrorCode.EBUSY
    one_leader(nodes)  # nothing was done: the leader still leads


def test_generate_certs_bad_ids(tmp_path):
    for ids in ([], ["ca"], ["n1", "n1"], ["bad id"], "n1"):
        with pytest.raises(graft.ConfigError):
            graft.generate_certs(tmp_path / "c", ids)


def test_generate_certs_unwritable_dir_raises_storage(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(graft.StorageError):
        graft.generate_certs(blocker / "sub", ["n1"])


def test_errors_keep_code_and_message_through_pickle():
    e = graft.TLSError(graft.ErrorCode.ETLS, "transport: tls: bad")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is graft.TLSError and back.code == graft.ErrorCode.ETLS and str(back) == "transport: tls: bad"
    assert issubclass(graft.ForkError, graft.GraftError) and issubclass(graft.ConfigError, ValueError)


def test_loader_names_every_path_tried(tmp_path):
    # A copy of the package with no library beside it, outside any checkout.
    shutil.copytree(HERE.parent / "graft", tmp_path / "graft", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = child_env()
    env["PYTHONPATH"] = str(tmp_path)
    env["GRAFT_LIBRARY"] = str(tmp_path / "nowhere" / "libgraft.so")
    # import graft loads nothing (lazy); the first use looks for the library
    r = subprocess.run([sys.executable, "-c", "import graft; graft.library_path"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "LibraryNotFoundError" in r.stderr
    for p in (env["GRAFT_LIBRARY"], str(tmp_path / "graft" / "libgraft.so"), "build/libgraft.so"):
        assert p in r.stderr, r.stderr
