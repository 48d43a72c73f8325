"""graft: Raft leader election as a library (Python binding of libgraft).

A program runs one :class:`Node` per process, names its peers, and is told, by
callback and by query, whether it leads::

    import graft

    graft.generate_certs("certs", ["n1", "n2", "n3"])   # development certificates
    with graft.Node("prod", "n1", "127.0.0.1:7001",
                    peers={"n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003"},
                    state_path="n1.graft", tls=graft.tls_files("certs", "n1"),
                    on_state_change=lambda old, new, term: print(old, "->", new, term)) as node:
        node.wait_for_leader(timeout=5)
        lease = node.lease()           # Lease(term, deadline) while this node leads
        if lease is not None and lease.valid():
            ...                        # leader-only work; lease.term is the fencing token

Host rules (see the module docs of :mod:`graft._node`):

* callbacks run on a library thread with the GIL taken; their exceptions are
  logged on the ``"graft"`` logger and never stop the node;
* the library does not survive ``fork()``: a node used in a forked child
  raises :class:`ForkError`; use ``multiprocessing.get_context("spawn")``;
* Ctrl-C works: the library leaves SIGINT/SIGTERM to Python, and
  :meth:`Node.wait_for_leader` waits in short slices;
* one Go runtime per process: do not load another Go-built shared library.

The shared library is found through ``GRAFT_LIBRARY``, the copy shipped in the
package, or the ``build/`` folder of a graft checkout (see :mod:`graft._lib`).
"""

from ._errors import (
    BusyError,
    ClosedError,
    ConfigError,
    ErrorCode,
    ForkError,
    GraftError,
    InternalError,
    NetworkError,
    NoPeerError,
    NotLeaderError,
    StorageError,
    TLSError,
)
from ._lib import LibraryNotFoundError
from ._lib import path as library_path
from ._lib import version as _version
from ._node import Node, generate_certs, tls_files
from ._types import Lease, MsgKind, State, Stats

#: The version of the loaded libgraft (graft_version()).
__version__: str = _version()

__all__ = [
    "BusyError",
    "ClosedError",
    "ConfigError",
    "ErrorCode",
    "ForkError",
    "GraftError",
    "InternalError",
    "Lease",
    "LibraryNotFoundError",
    "MsgKind",
    "NetworkError",
    "NoPeerError",
    "Node",
    "NotLeaderError",
    "State",
    "Stats",
    "StorageError",
    "TLSError",
    "generate_certs",
    "library_path",
    "tls_files",
]
