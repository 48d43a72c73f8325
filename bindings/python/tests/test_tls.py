"""Certificates that rotate (Node.reload_tls) and certificates bound to a
cluster (generate_certs(cluster=...)): good files are taken without a
leader change, bad ones raise TLSError naming the file and change nothing,
and the node reports bad files it finds by itself to on_error."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import List, Tuple

import pytest

import graft
from conftest import FAST, ClusterFactory, free_udp_ports, wait_until


def replace(path: Path, data: bytes) -> None:
    """Replace path with data atomically, as rotation tools do."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def own_files(src: Path, dst: Path, node_id: str) -> Tuple[str, str, str]:
    """Copy node_id's certificate, key and the CA from src into dst: files
    of its own, to rewrite under it."""
    dst.mkdir(parents=True, exist_ok=True)
    names = (f"{node_id}.pem", f"{node_id}-key.pem", "ca.pem")
    for name in names:
        shutil.copyfile(src / name, dst / name)
    return tuple(str(dst / n) for n in names)  # type: ignore[return-value]


def test_reload_tls_takes_good_files_and_refuses_bad_ones(cluster: ClusterFactory, certs: Path,
                                                         other_certs: Path, tmp_path: Path) -> None:
    errors: List[Tuple[int, str]] = []
    lock = threading.Lock()

    def on_error(err: graft.GraftError) -> None:
        with lock:
            errors.append((err.code, str(err)))

    files = own_files(certs, tmp_path / "n1", "n1")
    cert, key, ca = (Path(f) for f in files)
    addrs = cluster.addresses(1)
    node = cluster.node("n1", addrs, tls=files, on_error=on_error)
    wait_until(lambda: node.is_leader, 10, "n1 leads")
    term = node.term

    node.reload_tls()  # unchanged: harmless
    graft.generate_certs(tmp_path / "next", ["n1"])  # another CA: key, certificate and CA together
    for name, dst in (("n1.pem", cert), ("n1-key.pem", key), ("ca.pem", ca)):
        replace(dst, (tmp_path / "next" / name).read_bytes())
    node.reload_tls()

    bad = [
        ("corrupt certificate", {cert: b"-----BEGIN CERTIFICATE-----\ncut"}, "cut off"),
        ("certificate for another id", {cert: (certs / "n2.pem").read_bytes(), key: (certs / "n2-key.pem").read_bytes()},
         'names node "n2", not "n1"'),
        ("certificate of another CA", {cert: (other_certs / "n1.pem").read_bytes(),
                                       key: (other_certs / "n1-key.pem").read_bytes()}, "not valid for CA"),
        ("corrupt CA", {ca: b"garbage"}, "no PEM certificate"),
    ]
    for what, spoil, msg in bad:
        good = {path: path.read_bytes() for path in spoil}
        for path, data in spoil.items():
            replace(path, data)
        with pytest.raises(graft.TLSError) as e:
            node.reload_tls()
        assert e.value.code == graft.ErrorCode.ETLS, what
        assert msg in str(e.value), what
        assert str(next(iter(spoil))) in str(e.value), f"{what}: the message names the file"
        for path, data in good.items():
            replace(path, data)
    node.reload_tls()
    with lock:
        assert errors == [], "a forced reload's failure is the caller's, not on_error's"

    # Broken behind its back: the node finds and reports it by itself.
    replace(key, b"garbage")

    def reported() -> bool:
        with lock:
            return any(c == graft.ErrorCode.ETLS and str(key) in m for c, m in errors)

    wait_until(reported, 10, "an on_error call naming the bad key file")
    assert node.is_leader and node.term == term
    node.close()
    with pytest.raises(graft.ClosedError):
        node.reload_tls()


def test_generate_certs_binds_to_a_cluster(tmp_path: Path) -> None:
    graft.generate_certs(tmp_path, ["n1", "n2"], cluster="blue")
    assert (os.stat(tmp_path / "n2-key.pem").st_mode & 0o777) == 0o600
    port = free_udp_ports(1)[0]
    tls = graft.tls_files(tmp_path, "n1")
    with graft.Node("blue", "n1", f"127.0.0.1:{port}", state_path=str(tmp_path / "b.graft"), tls=tls, **FAST):
        pass
    with pytest.raises(graft.TLSError) as e:
        graft.Node("red", "n1", f"127.0.0.1:{port}", state_path=str(tmp_path / "r.graft"), tls=tls, **FAST)
    assert 'is for cluster "blue", this is cluster "red"' in str(e.value)

    for name in ["", "blue/green", "x" * 254]:
        with pytest.raises(graft.ConfigError) as e:
            graft.generate_certs(tmp_path / "bad", ["n1"], cluster=name)
        assert "cluster name" in str(e.value)
    with pytest.raises(graft.ConfigError):
        graft.generate_certs(tmp_path / "bad", ["n1", "n1"], cluster="blue")
    with pytest.raises(graft.ConfigError):
        graft.generate_certs(tmp_path / "bad", ["n1"], cluster=7)  # type: ignore[arg-type]
