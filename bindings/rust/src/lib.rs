//! Raft leader election as a library: the Rust binding of libgraft.
//!
//! A program names its peers, starts a [`Node`], and is told, by callback and
//! by query, whether it leads. The election (pre-vote, check-quorum with a
//! leader lease, leadership transfer, a persisted term and vote) runs inside
//! libgraft, written in Go and linked into the program as a static archive;
//! nodes talk QUIC with mutual TLS. This crate has no dependencies.
//!
//! # A tour
//!
//! - [`Node::builder`] gives a [`Builder`]: peers, state file, TLS files,
//!   timings, callbacks. [`Builder::start`] starts the node, which joins the
//!   election at once as a follower.
//! - Queries never block and cost about one C call: [`Node::state`],
//!   [`Node::term`] (the fencing token), [`Node::leader`],
//!   [`Node::is_leader`] (true only while the lease holds), [`Node::lease`]
//!   (term and deadline), [`Node::stats`].
//! - Leadership to act on: [`Builder::on_lease`] (acquired, and lost at the
//!   deadline itself), [`Node::wait_lease`], and for event loops
//!   [`Node::next_event`] with the node's descriptor (`impl AsRawFd`, for
//!   poll(2), `mio`, `tokio::io::unix::AsyncFd`) or the blocking
//!   [`Node::events`]; each [`Event`] comes in the order of the callbacks.
//! - [`Node::reload_tls`] takes rotated certificate files at once (the node
//!   also notices changed files by itself, within about 2 s);
//! - [`Node::step_down`] hands leadership over in about one round trip;
//!   [`Node::close`], or dropping the node, stops it (handing over first).
//! - Callbacks are closures owned by the node and run on a library thread,
//!   one at a time per node, in event order; a panic in one is caught at the
//!   boundary and reported, never unwound into the library.
//! - Failures are [`Error`]s: an [`ErrorKind`], the C code, the library's
//!   message.
//! - [`generate_certs`] writes a development CA and node certificates
//!   ([`generate_cluster_certs`] binds them to a cluster);
//!   [`version`] is the library's version.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! graft::generate_certs("/tmp/certs", &["n1", "n2", "n3"])?;
//! let node = graft::Node::builder("demo", "n1", "127.0.0.1:7001")
//!     .peer("n2", "127.0.0.1:7002")
//!     .peer("n3", "127.0.0.1:7003")
//!     .state_path("/tmp/n1.graft")
//!     .tls("/tmp/certs/n1.pem", "/tmp/certs/n1-key.pem", "/tmp/certs/ca.pem")
//!     .on_leader_change(|leader, term| println!("term {term}: leader {leader:?}"))
//!     .start()?;
//! if let Some(lease) = node.wait_lease(Some(Duration::from_secs(5)))? {
//!     println!("leading with token {} for {:?}", lease.term, lease.remaining());
//! }
//! node.close()?;
//! # Ok::<(), graft::Error>(())
//! ```
//!
//! # Living in a process with Go inside
//!
//! The library contains the Go runtime, which starts when the program
//! starts. It installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGPIPE (and
//! SIGURG, SIGPROF) with `SA_ONSTACK`, and never touches SIGINT, SIGTERM,
//! SIGHUP, SIGQUIT, SIGUSR1 or SIGUSR2: those stay with the program.
//! A program (or a crate it uses: a sampling profiler, a crash reporter)
//! that replaces the handler of SIGSEGV, SIGBUS, SIGFPE, SIGPIPE, SIGURG or
//! SIGPROF must use `SA_ONSTACK` (and should chain to the previous
//! handler): otherwise such a signal arriving on a library thread crashes
//! the process (a profiler's SIGPROF timer does so within seconds). A
//! process holds one Go runtime: do not also load another Go-built library.
//! A child made by `fork()` cannot use the library (every call fails with
//! [`ErrorKind::Fork`]); `std::process::Command` (fork + exec) is fine.
//! Go reads the environment once, at start.
//!
//! # Linking
//!
//! build.rs links libgraft from `GRAFT_LIB_DIR`, else from where
//! pkg-config's `graft` package says (`make install` writes graft.pc), else,
//! inside a graft checkout, builds `libgraft.a` with `go` into cargo's
//! `OUT_DIR` (never into the source tree). The static archive is preferred
//! and bundled into this crate, so binaries of crates depending on `graft`
//! run on their own, without `LD_LIBRARY_PATH`.

#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

mod callbacks;
mod error;
mod events;
mod ffi;
mod node;
mod types;

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use error::{Error, ErrorKind};
pub use events::{Event, Events, StampedEvent};
pub use node::{Builder, Node};
pub use types::{monotonic_ns, Lease, LogLevel, MsgKind, State, Stats, MSG_KIND_SLOTS};

/// `Result<T, graft::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Write a development CA and one certificate per node into `dir` (created
/// if missing): `ca.pem`, `ca-key.pem`, and for each id `<id>.pem` and
/// `<id>-key.pem` (keys mode 0600). A CA already in `dir` is reused, so
/// nodes can be added later; node files are replaced. For tests and demos:
/// production certificates come from your own CA (each node's certificate
/// must name its id as a DNS SAN).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] (no ids, a bad or repeated id),
/// [`ErrorKind::Storage`] (a file cannot be written).
///
/// ```no_run
/// graft::generate_certs("/tmp/certs", &["n1", "n2", "n3"])?;
/// # Ok::<(), graft::Error>(())
/// ```
pub fn generate_certs<S: AsRef<str>>(dir: impl AsRef<Path>, ids: &[S]) -> Result<()> {
    generate(dir.as_ref(), None, ids)
}

/// [`generate_certs`], with each node certificate also bound to `cluster`
/// (the name given to [`Node::builder`]): it names `graft://CLUSTER/ID` as a
/// URI SAN, and nodes of a cluster of another name refuse it, even when the
/// clusters share the CA. Certificates without the binding are accepted by
/// any cluster of the CA.
///
/// # Errors
/// As [`generate_certs`], and [`ErrorKind::InvalidArgument`] for a cluster
/// name that is empty or has a character other than `A-Z a-z 0-9 . _ -`.
///
/// ```no_run
/// graft::generate_cluster_certs("/tmp/certs", "prod", &["n1", "n2", "n3"])?;
/// # Ok::<(), graft::Error>(())
/// ```
pub fn generate_cluster_certs<S: AsRef<str>>(dir: impl AsRef<Path>, cluster: &str, ids: &[S]) -> Result<()> {
    generate(dir.as_ref(), Some(cluster), ids)
}

/// graft_generate_certs, or graft_generate_cluster_certs with a cluster.
fn generate<S: AsRef<str>>(dir: &Path, cluster: Option<&str>, ids: &[S]) -> Result<()> {
    let cdir = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("graft: the folder {} contains a NUL byte", dir.display())))?;
    let ids = ids
        .iter()
        .map(|s| {
            CString::new(s.as_ref())
                .map_err(|_| Error::invalid(format!("graft: the id {:?} contains a NUL byte", s.as_ref())))
        })
        .collect::<Result<Vec<_>>>()?;
    let ptrs: Vec<_> = ids.iter().map(|s| s.as_ptr()).collect();
    let Some(cluster) = cluster else {
        // SAFETY: cdir and every id are NUL-terminated and outlive the call;
        // ptrs holds ptrs.len() valid pointers (an empty Vec's dangling
        // pointer is not read when n is 0).
        return error::check(unsafe { ffi::graft_generate_certs(cdir.as_ptr(), ptrs.as_ptr(), ptrs.len()) }).map(drop);
    };
    let valid = (1..=253).contains(&cluster.len())
        && cluster.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(Error::invalid(format!(
            "graft: cluster name {cluster:?}: 1 to 253 characters of A-Z a-z 0-9 . _ -"
        )));
    }
    let ccluster = CString::new(cluster).expect("checked: no NUL");
    // SAFETY: as above, and ccluster is NUL-terminated and outlives the call.
    error::check(unsafe {
        ffi::graft_generate_cluster_certs(cdir.as_ptr(), ccluster.as_ptr(), ptrs.as_ptr(), ptrs.len())
    })
    .map(drop)
}

/// The library's version, `"MAJOR.MINOR.PATCH"`.
pub fn version() -> &'static str {
    // SAFETY: graft_version returns a static NUL-terminated string, never
    // freed (graft.h).
    let v = unsafe { CStr::from_ptr(ffi::graft_version()) };
    v.to_str().unwrap_or("unknown")
}

/// The library's version as one number, `MAJOR * 1_000_000 + MINOR * 1_000
/// + PATCH` (graft_version_number, as `sqlite3_libversion_number`): 1000
/// for 0.1.0.
pub fn version_number() -> u32 {
    // SAFETY: graft_version_number takes nothing and returns a constant.
    let n = unsafe { ffi::graft_version_number() };
    n as u32
}

#[cfg(test)]
mod tests;

/// The README's example, compiled by `cargo test` as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
