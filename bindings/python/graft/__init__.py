"""graft: Raft leader election as a library (Python binding of libgraft).

A program runs one :class:`Node` per process, names its peers, and is told, by
callback and by query, whether it leads::

    import graft

    graft.generate_certs("certs", ["n1", "n2", "n3"])   # development certificates
    with graft.Node("prod", "n1", "127.0.0.1:7001",
                    peers={"n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003"},
                    state_path="n1.graft", tls=graft.tls_files("certs", "n1"),
                    on_state_change=lambda old, new, term: print(old, "->", new, term)) as node:
        lease = node.wait_lease()      # Lease(term, deadline) once this node leads
        while lease is not None and lease.valid():
            ...                        # leader-only work; lease.term is the fencing token
            lease = node.lease()       # renewed by heartbeats: the newest deadline

Leadership as an event: ``on_lease=fn(held, lease)``, :meth:`Node.wait_lease`,
and for event loops :meth:`Node.fileno` with :meth:`Node.next_event`;
:mod:`graft.aio` builds ``wait_lease``, ``events`` and ``leading`` on them.

Host rules (see the module docs of :mod:`graft._node`):

* callbacks run on a library thread with the GIL taken; their exceptions are
  logged on the ``"graft"`` logger and never stop the node;
* the library does not survive ``fork()``: a node used in a forked child
  raises :class:`ForkError`; use ``multiprocessing.get_context("spawn")``;
* Ctrl-C works: the library leaves SIGINT/SIGTERM to Python, and
  :meth:`Node.wait_for_leader`, :meth:`Node.wait_lease` and :meth:`Node.close`
  (on the main thread) wait in short slices;
* at exit every open node is closed, all at once; the exit waits at most
  :data:`EXIT_TIMEOUT` (5 s) for callbacks still running, and a Ctrl-C then
  stops the wait; ``Node()`` raises :class:`ClosedError` once the exit began;
* one Go runtime per process: do not load another Go-built shared library.

The shared library is found through ``GRAFT_LIBRARY``, the copy shipped in the
package, or the ``build/`` folder of a graft checkout (see :mod:`graft._lib`).
``import graft`` does not load it: the first node, :func:`generate_certs`,
``library_path`` or ``__version__`` does, so a process may import graft, fork,
and start a node in the child.
"""

from typing import Any


from ._errors import (
    BusyError,
    ClosedError,
    ConfigError,
    ErrorCode,
    ForkError,
    GraftError,
    InternalError,
    LeaseLost,
    NetworkError,
    NoPeerError,
    HookError,
    NotLeaderError,
    StorageError,
    TLSError,
)
from ._events import Event, EventKind
from ._lib import LibraryNotFoundError
from ._node import EXIT_TIMEOUT, Node, generate_certs, tls_files
from ._types import Lease, MsgKind, State, Stats


def __getattr__(name: str) -> Any:
    """``__version__`` (the loaded libgraft's graft_version()) and
    ``library_path`` (the file it was loaded from) load the library on first
    use; ``aio`` imports :mod:`graft.aio`."""
    from . import _lib

    if name == "__version__":
        return _lib.version()
    if name == "library_path":
        return _lib.path()
    if name == "aio":
        import importlib

        return importlib.import_module(".aio", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EXIT_TIMEOUT",
    "BusyError",
    "ClosedError",
    "ConfigError",
    "ErrorCode",
    "Event",
    "EventKind",
    "ForkError",
    "GraftError",
    "InternalError",
    "Lease",
    "LeaseLost",
    "LibraryNotFoundError",
    "MsgKind",
    "NetworkError",
    "NoPeerError",
    "HookError",
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
