//! [`Error`], [`ErrorKind`] and the mapping from the C return codes.

use std::ffi::{c_int, CStr};
use std::fmt;

use crate::ffi;

/// What kind of failure an [`Error`] is: one variant per `graft_error` code
/// of the C header (whose numbers are never renumbered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `GRAFT_EINVAL`: an argument or the configuration was rejected (bad
    /// id, bad timeouts, duplicate or self peer, malformed address, a string
    /// holding a NUL byte).
    InvalidArgument,
    /// `GRAFT_ECLOSED`: the node was closed.
    Closed,
    /// `GRAFT_ESTORAGE`: the state file could not be read or written, or is
    /// corrupt (it is never silently reset).
    Storage,
    /// `GRAFT_ETLS`: a certificate, key or CA file is missing, unreadable or
    /// unsuitable, or a TLS handshake with a peer failed.
    Tls,
    /// `GRAFT_ENETWORK`: the listen address could not be bound, or a peer
    /// could not be reached or misbehaved.
    Network,
    /// `GRAFT_ERANGE`: a buffer was too small (not returned by this binding,
    /// which sizes its buffers itself).
    Range,
    /// `GRAFT_EBUSY`: a node was closed from inside one of its own
    /// callbacks; see [`Node::close`](crate::Node::close).
    Busy,
    /// `GRAFT_ENOTLEADER`: [`Node::step_down`](crate::Node::step_down) on a
    /// node that does not lead.
    NotLeader,
    /// `GRAFT_EFORK`: the process was forked after the library was loaded;
    /// the library cannot be used in the child.
    Fork,
    /// `GRAFT_EINTERNAL`: a bug in the library (a recovered Go panic).
    Internal,
    /// `GRAFT_ENOPEER`: [`Node::step_down`](crate::Node::step_down) found no
    /// peer that answered recently enough to take over; the node keeps leading.
    NoPeer,
    /// `GRAFT_EHOOK` (passed to the error callback only): one of the
    /// application's vote hooks failed, was too slow, or returned too long a
    /// position; the vote was refused or the campaign abandoned.
    Hook,
    /// A code this binding does not know (a newer library).
    Unknown,
}

impl ErrorKind {
    /// The kind of a C return code (negative); [`ErrorKind::Unknown`] for
    /// codes this binding does not know.
    pub fn from_code(code: i32) -> ErrorKind {
        match code {
            ffi::GRAFT_EINVAL => ErrorKind::InvalidArgument,
            ffi::GRAFT_ECLOSED => ErrorKind::Closed,
            ffi::GRAFT_ESTORAGE => ErrorKind::Storage,
            ffi::GRAFT_ETLS => ErrorKind::Tls,
            ffi::GRAFT_ENETWORK => ErrorKind::Network,
            ffi::GRAFT_ERANGE => ErrorKind::Range,
            ffi::GRAFT_EBUSY => ErrorKind::Busy,
            ffi::GRAFT_ENOTLEADER => ErrorKind::NotLeader,
            ffi::GRAFT_EFORK => ErrorKind::Fork,
            ffi::GRAFT_EINTERNAL => ErrorKind::Internal,
            ffi::GRAFT_ENOPEER => ErrorKind::NoPeer,
            ffi::GRAFT_EHOOK => ErrorKind::Hook,
            _ => ErrorKind::Unknown,
        }
    }
}

/// An error from libgraft: its kind, the C return code and the library's
/// message (for [`Node::builder`](crate::Node::builder)`...start()` the
/// reason naming the field or file at fault, otherwise `graft_strerror`).
///
/// `Display` prints the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    code: i32,
    message: String,
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The C return code (`GRAFT_E...`, negative).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The library's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An error for `code` with the given message.
    pub(crate) fn new(code: c_int, message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::from_code(code), code, message: message.into() }
    }

    /// An error for `code` with the library's description of it.
    pub(crate) fn from_code(code: c_int) -> Error {
        Error::new(code, strerror(code))
    }

    /// A `GRAFT_EINVAL` raised by the binding itself (before any C call).
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(ffi::GRAFT_EINVAL, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `graft_strerror(code)` as a Rust string.
pub(crate) fn strerror(code: c_int) -> String {
    // SAFETY: graft_strerror accepts any code and returns a static,
    // NUL-terminated string, never NULL (graft.h), valid for the process.
    unsafe { CStr::from_ptr(ffi::graft_strerror(code)) }.to_string_lossy().into_owned()
}

/// Turn a C return code into a `Result`: `Ok(rc)` for 0 and above.
pub(crate) fn check(rc: c_int) -> crate::Result<c_int> {
    if rc >= 0 {
        Ok(rc)
    } else {
        Err(Error::from_code(rc))
    }
}
