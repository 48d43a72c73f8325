"""Loading libgraft.so and declaring its C prototypes (include/graft.h).

The library is looked for, in order:

1. the file named by the environment variable ``GRAFT_LIBRARY``;
2. the copy shipped inside this package (``graft/libgraft.so``, put there by
   ``pip install ./bindings/python``);
3. the ``build/`` folder of the graft checkout this package sits in
   (``make lib`` writes ``build/libgraft.so``).

When none loads, :class:`LibraryNotFoundError` names every path tried.

The library is loaded with :class:`ctypes.CDLL`, which releases the GIL during
each call (``PyDLL`` would deadlock with the library's callback threads). Every
function of graft.h has its ``argtypes`` and ``restype`` declared here; nothing
else in the package touches ctypes prototypes.

Loading is lazy: ``import graft`` does not load the library (nor start the Go
runtime inside it); the first use does (the first :class:`graft.Node`,
:func:`graft.generate_certs`, ``graft.library_path`` or ``graft.__version__``).
So a program that imports graft and then forks (gunicorn ``--preload``, Celery
prefork, ``multiprocessing`` with fork) can start a node in the child. A
process that loaded the library cannot use it after fork(): its children get
:class:`graft.ForkError`.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import List, Optional, Tuple

from . import _errors
from ._errors import ConfigError, ErrorCode, raise_fork

#: Longest node or cluster id plus its NUL (GRAFT_ID_MAX).
ID_MAX = 256
#: Slots of the per-kind arrays of graft_stats (GRAFT_MSG_KIND_SLOTS).
MSG_KIND_SLOTS = 8
#: Capacity of the vote-hook position buffer (GRAFT_POSITION_MAX).
POSITION_MAX = 1024


class LibraryNotFoundError(ImportError):
    """libgraft.so could not be loaded from any of the places tried."""


class graft_stats(Structure):
    """struct graft_stats: set ``size`` before graft_node_stats fills it."""

    _fields_ = [
        ("size", c_size_t),
        ("state", c_int32),
        ("reserved0", c_uint32),
        ("term", c_uint64),
        ("leader", c_char * ID_MAX),
        ("prevotes_started", c_uint64),
        ("prevotes_lost", c_uint64),
        ("elections_started", c_uint64),
        ("elections_won", c_uint64),
        ("leader_changes", c_uint64),
        ("step_downs", c_uint64),
        ("transfers", c_uint64),
        ("storage_errors", c_uint64),
        ("callbacks_queued", c_uint64),
        ("since_leader_contact_ns", c_int64),
        ("msgs_sent", c_uint64 * MSG_KIND_SLOTS),
        ("msgs_received", c_uint64 * MSG_KIND_SLOTS),
        ("msgs_dropped", c_uint64 * MSG_KIND_SLOTS),
        ("net_msgs_sent", c_uint64),
        ("net_bytes_sent", c_uint64),
        ("net_msgs_received", c_uint64),
        ("net_bytes_received", c_uint64),
        ("net_reconnects", c_uint64),
        ("drop_malformed", c_uint64),
        ("drop_wrong_cluster", c_uint64),
        ("drop_bad_version", c_uint64),
        ("drop_oversized", c_uint64),
        ("drop_spoofed_sender", c_uint64),
        ("drop_unknown_peer", c_uint64),
        ("drop_handshake_failed", c_uint64),
        ("drop_queue_full", c_uint64),
        ("drop_invalid_packet", c_uint64),
        ("callback_delay_last_ns", c_uint64),
        ("callback_delay_max_ns", c_uint64),
        ("callbacks_dropped", c_uint64),
        ("rank", c_uint32),
        ("reserved1", c_uint32),
        ("priority_takeovers", c_uint64),
        ("successor", c_char * ID_MAX),
    ]


class graft_event(Structure):
    """struct graft_event: set ``size`` before graft_node_next_event fills it."""

    _fields_ = [
        ("size", c_uint32),
        ("kind", c_int),
        ("from_", c_int),
        ("to", c_int),
        ("term", c_uint64),
        ("deadline_ns", c_uint64),
        ("leader", c_char * ID_MAX),
        ("at_ns", c_uint64),
    ]


# Opaque handles: plain pointers, never dereferenced on either side.
config_p = c_void_p
node_p = c_void_p

# Callback types. Strings arrive as c_char_p (copied to bytes by ctypes
# before the Python function runs: valid only during the call in C).
STATE_FN = CFUNCTYPE(None, c_void_p, c_int, c_int, c_uint64)
LEADER_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_uint64)
ERROR_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
POSITION_FN = CFUNCTYPE(c_size_t, c_void_p, POINTER(c_uint8), c_size_t)
GRANT_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_uint8), c_size_t)
LEASE_FN = CFUNCTYPE(None, c_void_p, c_int, c_uint64, c_uint64)

# name: (restype, argtypes) for every function of graft.h.
_PROTOTYPES = {
    "graft_config_new": (config_p, [c_char_p, c_char_p, c_char_p]),
    "graft_config_add_peer": (c_int, [config_p, c_char_p, c_char_p]),
    "graft_config_set_state_path": (c_int, [config_p, c_char_p]),
    "graft_config_set_tls": (c_int, [config_p, c_char_p, c_char_p, c_char_p]),
    "graft_config_set_timeouts": (c_int, [config_p, c_uint32, c_uint32, c_uint32]),
    "graft_config_set_max_clock_drift": (c_int, [config_p, c_double]),
    "graft_config_set_priority": (c_int, [config_p, c_uint32]),
    "graft_config_set_succession_delay": (c_int, [config_p, c_uint32]),
    "graft_config_on_state_change": (c_int, [config_p, STATE_FN, c_void_p]),
    "graft_config_on_leader_change": (c_int, [config_p, LEADER_FN, c_void_p]),
    "graft_config_on_error": (c_int, [config_p, ERROR_FN, c_void_p]),
    "graft_config_on_log": (c_int, [config_p, LOG_FN, c_void_p]),
    "graft_config_set_log_level": (c_int, [config_p, c_int]),
    "graft_config_set_vote_hooks": (c_int, [config_p, POSITION_FN, GRANT_FN, c_void_p]),
    "graft_config_on_lease": (c_int, [config_p, LEASE_FN, c_void_p]),
    "graft_config_free": (None, [config_p]),
    "graft_node_new": (c_int, [config_p, POINTER(node_p), c_char_p, c_size_t]),
    "graft_node_close": (c_int, [node_p]),
    "graft_node_state": (c_int, [node_p]),
    "graft_node_term": (c_uint64, [node_p]),
    "graft_node_leader": (c_int, [node_p, c_char_p, c_size_t]),
    "graft_node_is_leader": (c_int, [node_p]),
    "graft_node_lease": (c_int, [node_p, POINTER(c_uint64), POINTER(c_uint64)]),
    "graft_node_step_down": (c_int, [node_p]),
    "graft_node_reload_tls": (c_int, [node_p, c_char_p, c_size_t]),
    "graft_node_wait_lease": (c_int, [node_p, c_int, POINTER(c_uint64), POINTER(c_uint64)]),
    "graft_node_event_fd": (c_int, [node_p]),
    "graft_node_next_event": (c_int, [node_p, POINTER(graft_event)]),
    "graft_node_stats": (c_int, [node_p, POINTER(graft_stats)]),
    "graft_generate_certs": (c_int, [c_char_p, POINTER(c_char_p), c_size_t]),
    "graft_generate_cluster_certs": (c_int, [c_char_p, c_char_p, POINTER(c_char_p), c_size_t]),
    "graft_strerror": (c_char_p, [c_int]),
    "graft_version": (c_char_p, []),
    "graft_version_number": (c_int, []),
}

_LIBNAME = "libgraft.so"


def candidates() -> List[Tuple[str, Path]]:
    """The places the library is looked for, in order, with where each comes from."""
    out: List[Tuple[str, Path]] = []
    env = os.environ.get("GRAFT_LIBRARY")
    if env:
        out.append(("GRAFT_LIBRARY", Path(env)))
    here = Path(__file__).resolve().parent
    out.append(("packaged copy", here / _LIBNAME))
    # bindings/python/graft/_lib.py -> <checkout>/build/libgraft.so
    out.append(("checkout build folder", here.parent.parent.parent / "build" / _LIBNAME))
    return out


def _load() -> Tuple[ctypes.CDLL, Path]:
    tried: List[str] = []
    for origin, path in candidates():
        if not path.is_file():
            tried.append(f"  {path} ({origin}): no such file")
            continue
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            tried.append(f"  {path} ({origin}): {e}")
            continue
        return lib, path
    raise LibraryNotFoundError(
        "graft: cannot load libgraft.so; tried:\n"
        + "\n".join(tried)
        + "\nBuild it with `make lib` in the graft checkout, install the package with "
        "`pip install ./bindings/python`, or set GRAFT_LIBRARY to its path."
    )


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


class _Library:
    """Stands for the loaded libgraft: the first access to a function loads
    the library, and each function found is kept as a plain attribute, so
    later calls cost what a call through the CDLL costs."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        fn = getattr(_loaded()[0], name)
        setattr(self, name, fn)
        return fn


lib = _Library()
_cdll: Optional[Tuple[ctypes.CDLL, Path]] = None
_load_lock = threading.Lock()
#: The process that loaded the library (None: not loaded yet). In any other
#: (a fork() child of it) the library cannot run, and the binding raises
#: ForkError.
load_pid: Optional[int] = None


def _loaded() -> Tuple[ctypes.CDLL, Path]:
    global _cdll, load_pid
    if _cdll is None:
        with _load_lock:
            if _cdll is None:
                cdll, where = _load()
                _declare(cdll)
                load_pid = os.getpid()
                _cdll = (cdll, where)
    return _cdll


def ensure() -> None:
    """Load the library unless it is loaded; raise ForkError in a fork()
    child of the process that loaded it."""
    if load_pid is not None and load_pid != os.getpid():
        raise_fork()
    _loaded()


def path() -> Path:
    """The file the library was loaded from (loading it if needed)."""
    return _loaded()[1]


def strerror(code: int) -> str:
    """The library's description of a return code (graft_strerror)."""
    return (lib.graft_strerror(code) or b"unknown error").decode("utf-8", "replace")


# _errors describes codes with graft_strerror from now on (it does not
# import this module: the import runs one way, _lib -> _errors).
_errors.set_describer(strerror)


def version() -> str:
    """The library's version string, "MAJOR.MINOR.PATCH" (graft_version)."""
    return (lib.graft_version() or b"").decode("ascii", "replace")


def encode(value: object, what: str) -> bytes:
    """A str or path argument as UTF-8 bytes for C; NUL bytes are refused."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
    else:
        raise ConfigError(ErrorCode.EINVAL, f"graft: {what} must be a str, not {type(value).__name__}")
    if b"\0" in raw:
        raise ConfigError(ErrorCode.EINVAL, f"graft: {what} contains a NUL character: {value!r}")
    return raw


def decode(raw: Optional[bytes]) -> str:
    """A C string from the library as str (UTF-8, invalid bytes replaced)."""
    return raw.decode("utf-8", "replace") if raw else ""
