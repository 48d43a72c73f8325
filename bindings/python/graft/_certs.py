"""Development certificates: :func:`generate_certs` and :func:`tls_files`."""

from __future__ import annotations

import ctypes
import os
import re
from typing import Iterable, Optional, Tuple, Union

from . import _lib
from ._errors import ConfigError, ErrorCode, check
from ._lib import lib

PathLike = Union[str, "os.PathLike[str]"]

# graft_generate_certs writes <id>-key.pem, which must fit a 255-byte name.
_CERT_ID_MAX = 247

# The names graft_generate_cluster_certs takes (for the message of a bad one).
_CLUSTER_NAME = re.compile(rb"[A-Za-z0-9._-]{1,253}")


def generate_certs(directory: PathLike, ids: Iterable[str], cluster: Optional[str] = None) -> None:
    """Write a development CA and one certificate per node id into
    ``directory`` (created if missing): ``ca.pem``, ``ca-key.pem``,
    ``<id>.pem`` and ``<id>-key.pem`` (keys mode 0600). An existing CA in the
    folder is reused. For tests and demos; production certificates come from
    your own CA (each node's certificate names its id as a DNS SAN).

    With ``cluster``, each certificate is also bound to that cluster (the
    name given to :class:`Node`): it names ``graft://CLUSTER/ID`` as a URI
    SAN, and nodes of a cluster of another name refuse it, even when the
    clusters share the CA. Without, certificates are accepted by any cluster
    of the CA.

    Node ids may have up to 253 characters, but here at most 247: the file
    name ``<id>-key.pem`` must fit the 255-byte limit.

    Raises:
        ConfigError: no ids, a bad, repeated or too long id, or a cluster
            name that is empty or has a character other than A-Z a-z 0-9
            . _ -.
        StorageError: a file cannot be written.
    """
    if isinstance(ids, (str, bytes)):
        raise ConfigError(ErrorCode.EINVAL, f"graft: ids must be a list of node ids, not {ids!r}")
    _lib.ensure()  # ForkError in a child of the process that loaded it
    raw = [_lib.encode(i, "node id") for i in ids]
    for r in raw:
        if len(r) > _CERT_ID_MAX:
            raise ConfigError(ErrorCode.EINVAL, f"graft: node id of {len(r)} characters: generate_certs takes ids of "
                              f"at most {_CERT_ID_MAX} (the file {r[:20].decode(errors='replace')}...-key.pem must fit 255 bytes)")
    arr = (ctypes.c_char_p * max(len(raw), 1))(*raw)
    d = _lib.encode(directory, "directory")
    if cluster is None:
        check(lib.graft_generate_certs(d, arr, len(raw)))
        return
    name = _lib.encode(cluster, "cluster")
    rc = lib.graft_generate_cluster_certs(d, name, arr, len(raw))
    if rc == ErrorCode.EINVAL and not _CLUSTER_NAME.fullmatch(name):
        check(rc, f"graft: cluster name {cluster!r}: 1 to 253 characters of A-Z a-z 0-9 . _ -")
    check(rc)


def tls_files(directory: PathLike, node_id: str) -> Tuple[str, str, str]:
    """``(cert, key, ca)`` paths of ``node_id`` in a folder laid out by
    :func:`generate_certs`, ready for ``Node(tls=...)``."""
    d = os.fspath(directory)
    return (os.path.join(d, f"{node_id}.pem"), os.path.join(d, f"{node_id}-key.pem"),
            os.path.join(d, "ca.pem"))
