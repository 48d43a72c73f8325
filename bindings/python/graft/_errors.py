"""Errors raised by graft: one exception class per library return code.

Every call into libgraft that returns a code goes through :func:`check`, which
turns a negative code into the matching subclass of :class:`GraftError`. Some
subclasses also derive from a builtin exception so that generic handlers work:
a bad configuration is a :class:`ValueError`, a misuse from the wrong place is
a :class:`RuntimeError`.

This module imports nothing of the package: ``_lib`` imports it, and hands it
the library's descriptions of the codes through :func:`set_describer`.
"""

from __future__ import annotations

import enum
from typing import Callable, Dict, NoReturn, Optional, Type


class ErrorCode(enum.IntEnum):
    """The library's return codes (``graft_error`` in graft.h); never renumbered."""

    OK = 0
    """Success."""
    EINVAL = -1
    """An argument or the configuration was rejected."""
    ECLOSED = -2
    """The node was closed."""
    ESTORAGE = -3
    """The state file could not be read or written, or is corrupt."""
    ETLS = -4
    """A certificate, key or CA file is missing or unsuitable, or a handshake failed."""
    ENETWORK = -5
    """The listen address could not be bound, or a peer misbehaved."""
    ERANGE = -6
    """A buffer was too small (never seen through this binding)."""
    EBUSY = -7
    """close() was called from a callback of the same node."""
    ENOTLEADER = -8
    """step_down() on a node that does not lead."""
    EFORK = -9
    """The process is a fork() child: the library cannot be used in it."""
    EINTERNAL = -10
    """A bug in the library (a recovered Go panic)."""
    ENOPEER = -11
    """step_down(): no peer answered recently enough to take over."""
    EHOOK = -12
    """(on_error only) one of the application's vote hooks failed or was too slow."""


class GraftError(Exception):
    """An error reported by libgraft.

    ``code`` is the library's return code (an :class:`ErrorCode` when known,
    else the raw int) and ``message`` the library's explanation.
    """

    code: int
    message: str

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        try:
            self.code = ErrorCode(code)
        except ValueError:
            self.code = code
        self.message = message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keep (code, message) through pickling (multiprocessing).
        return (type(self), (int(self.code), self.message))


class ConfigError(GraftError, ValueError):
    """GRAFT_EINVAL: a parameter or the configuration was rejected."""


class ClosedError(GraftError):
    """GRAFT_ECLOSED: the node was closed."""


class StorageError(GraftError):
    """GRAFT_ESTORAGE: the state file is unreadable, unwritable or corrupt."""


class TLSError(GraftError):
    """GRAFT_ETLS: a certificate, key or CA file is missing or unsuitable."""


class NetworkError(GraftError):
    """GRAFT_ENETWORK: the listen address cannot be bound, or a peer misbehaved."""


class BusyError(GraftError, RuntimeError):
    """GRAFT_EBUSY: close() from a callback of the same node; close it elsewhere."""


class NotLeaderError(GraftError):
    """GRAFT_ENOTLEADER: step_down() on a node that does not lead."""


class NoPeerError(GraftError):
    """GRAFT_ENOPEER: step_down() found no peer able to take over; still leading."""


class LeaseLost(NotLeaderError):
    """The lease ended while the body of ``async with graft.aio.leading(node)``
    ran (the deadline passed without renewal, a step-down, a higher term, the
    node closed): the body was cancelled, then this was raised. ``term`` is
    the lost lease's term."""

    term: int

    def __init__(self, code: int = ErrorCode.ENOTLEADER, message: str = "graft: the lease was lost",
                 term: int = 0) -> None:
        super().__init__(code, message)
        self.term = term

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (int(self.code), self.message, self.term))


class ForkError(GraftError, RuntimeError):
    """GRAFT_EFORK: the node (or the library) is used in a fork() child.

    The Go runtime inside libgraft does not survive fork(): start nodes in
    processes made with multiprocessing's 'spawn' (or 'forkserver') method or
    with subprocess.
    """


class HookError(GraftError):
    """GRAFT_EHOOK (passed to on_error only): one of the application's vote
    hooks (current_position, grant_vote) raised, was too slow, or returned
    too long a position; the vote was refused or the campaign abandoned."""


class InternalError(GraftError):
    """GRAFT_EINTERNAL: a bug in the library (a recovered panic)."""


_BY_CODE: Dict[int, Type[GraftError]] = {
    ErrorCode.EINVAL: ConfigError,
    ErrorCode.ECLOSED: ClosedError,
    ErrorCode.ESTORAGE: StorageError,
    ErrorCode.ETLS: TLSError,
    ErrorCode.ENETWORK: NetworkError,
    ErrorCode.EBUSY: BusyError,
    ErrorCode.ENOTLEADER: NotLeaderError,
    ErrorCode.EFORK: ForkError,
    ErrorCode.EINTERNAL: InternalError,
    ErrorCode.ENOPEER: NoPeerError,
    ErrorCode.EHOOK: HookError,
}


def _no_describer(code: int) -> str:
    """Until ``_lib`` is imported: the code's name."""
    try:
        return f"graft: {ErrorCode(code).name}"
    except ValueError:
        return f"graft: error {code}"


_describe: Callable[[int], str] = _no_describer


def set_describer(describe: Callable[[int], str]) -> None:
    """Make ``describe(code)`` (``_lib.strerror``: graft_strerror) the
    default message of :func:`error_for`."""
    global _describe
    _describe = describe


def error_for(code: int, message: Optional[str] = None) -> GraftError:
    """The exception for a negative return code; ``message`` defaults to
    the library's description of the code (graft_strerror)."""
    return _BY_CODE.get(code, GraftError)(code, message or _describe(code))


def check(rc: int, message: Optional[str] = None) -> int:
    """Return ``rc`` if it is not negative, else raise its :class:`GraftError`."""
    if rc >= 0:
        return rc
    raise error_for(rc, message)


def raise_fork() -> NoReturn:
    """Raise the ForkError of a node used in a fork() child."""
    raise ForkError(
        ErrorCode.EFORK,
        "graft: this process is a fork() child of the process that loaded libgraft "
        "(or started the node): "
        "the library cannot be used here (start nodes in 'spawn' processes)",
    )
