//! [`Node`] and its [`Builder`].

use std::ffi::{c_char, c_void, CString};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::callbacks::{self, Callbacks};
use crate::error::{check, Error};
use crate::events::{Event, Events, StampedEvent};
use crate::{ffi, Lease, LogLevel, Result, State, Stats};

/// Configures and starts a [`Node`]; made by [`Node::builder`].
///
/// Every method takes and returns the builder, so a node is one expression.
/// Nothing is validated before [`start`](Builder::start), which says what is
/// wrong.
///
/// ```no_run
/// use std::time::Duration;
///
/// let node = graft::Node::builder("prod", "n1", "127.0.0.1:7001")
///     .peer("n2", "127.0.0.1:7002")
///     .peer("n3", "127.0.0.1:7003")
///     .state_path("/var/lib/app/n1.graft")
///     .tls("certs/n1.pem", "certs/n1-key.pem", "certs/ca.pem")
///     .timeouts(Duration::from_millis(50), Duration::from_millis(300), Duration::from_millis(450))
///     .on_state_change(|from, to, term| println!("{from} -> {to} at term {term}"))
///     .on_leader_change(|leader, term| println!("leader {leader:?} at term {term}"))
///     .start()?;
/// # Ok::<(), graft::Error>(())
/// ```
#[must_use = "a builder does nothing until start() is called"]
pub struct Builder {
    cluster: String,
    node_id: String,
    listen: String,
    peers: Vec<(String, String)>,
    state_path: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    timeouts: Option<(Duration, Duration, Duration)>,
    max_clock_drift: Option<f64>,
    priority: Option<u32>,
    succession_delay: Option<Duration>,
    log_level: Option<LogLevel>,
    callbacks: Callbacks,
}

impl Builder {
    /// Add a peer: its node id and UDP `"host:port"`. Membership is static:
    /// add every other member of the cluster. Takes `&str`, `String`, and
    /// the `&&str` of a loop over an array of ids.
    pub fn peer(mut self, node_id: impl AsRef<str>, addr: impl AsRef<str>) -> Self {
        self.peers.push((node_id.as_ref().to_owned(), addr.as_ref().to_owned()));
        self
    }

    /// The file that persists the term and vote. Required. Created if
    /// missing (its folder must exist and be writable); a corrupt file makes
    /// `start` fail with [`ErrorKind::Storage`](crate::ErrorKind::Storage),
    /// never a reset. A symlink is followed once, at start. The node locks
    /// the file (`<file>.lock` beside it) until it is closed or the process
    /// ends: a second node on the same file, in this process or another,
    /// fails with `ErrorKind::Storage` naming the holder's pid.
    pub fn state_path(mut self, path: impl AsRef<Path>) -> Self {
        self.state_path = Some(path.as_ref().to_path_buf());
        self
    }

    /// PEM files for mutual TLS: this node's certificate (naming its id as
    /// a DNS SAN), its private key, and the CA that signed every node's
    /// certificate. Required. [`generate_certs`](crate::generate_certs)
    /// writes such files for development.
    pub fn tls(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>, ca: impl AsRef<Path>) -> Self {
        self.tls = Some((cert.as_ref().into(), key.as_ref().into(), ca.as_ref().into()));
        self
    }

    /// Election timings: a leader heartbeats every `heartbeat`; a follower
    /// that hears no leader for a random time in `[election_min,
    /// election_max]` campaigns; `election_min` is also the leader lease.
    /// Millisecond resolution (rounded up); zero keeps a default (50 ms,
    /// 300 ms, 450 ms). Rules checked by `start`: heartbeat >= 1 ms,
    /// election_min >= 3 * heartbeat, election_max > election_min,
    /// election_max <= 1 hour.
    pub fn timeouts(mut self, heartbeat: Duration, election_min: Duration, election_max: Duration) -> Self {
        self.timeouts = Some((heartbeat, election_min, election_max));
        self
    }

    /// The bound on how much any node's monotonic clock may run faster or
    /// slower than real time (0.01 = 1%, the default; `start` requires
    /// [0, 0.2]; 0 means the default, so the margin cannot be turned off).
    /// The lease is shortened by it.
    pub fn max_clock_drift(mut self, drift: f64) -> Self {
        self.max_clock_drift = Some(drift);
        self
    }

    /// This node's claim to the leadership; higher is preferred, 1 is the
    /// default. A leader ranks its followers as successors (priority first,
    /// then how recently each answered) and tells each its rank, so that
    /// after its death they campaign in that order (see
    /// [`succession_delay`](Builder::succession_delay)). It also hands the
    /// leadership over to a follower of higher priority than its own once
    /// that follower has answered every heartbeat for a stable period (5 x
    /// `election_max`), at most once per such period, so leadership never
    /// moves back and forth.
    ///
    /// 0 makes a witness: it votes and acknowledges heartbeats, so it counts
    /// in every majority, but it never campaigns and never leads. Two data
    /// sites plus a witness at a third survive the loss of any one site. A
    /// witness without peers is an
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) error from
    /// `start`: a cluster needs a node that can lead.
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The step between the ranked successors of a silent leader: the
    /// follower of rank r campaigns `election_min + (r - 1) * delay` after
    /// the last heartbeat it received. Set it just above one campaign (a
    /// pre-vote and a vote round trip plus two fsyncs). Millisecond
    /// resolution (rounded up); zero keeps the default (10 ms, or less when
    /// many peers share the election window). Checked by `start`: with two
    /// peers or more, `election_min + (peers - 1) * delay` must be below
    /// `election_max`.
    pub fn succession_delay(mut self, delay: Duration) -> Self {
        self.succession_delay = Some(delay);
        self
    }

    /// Call `f(from, to, term)` on every change of state, with the term at
    /// which the new state began. The last call is the change to
    /// [`State::Closed`], made by close.
    ///
    /// All callbacks of a node run on a library thread, one at a time, in
    /// the order of the events; keep them short (a slow callback delays the
    /// node's later callbacks, never the election). They may call the
    /// node's queries and [`Node::step_down`]. A panic is caught, printed,
    /// counted ([`Node::callback_panics`]) and given to `on_error`; the
    /// node keeps working.
    pub fn on_state_change<F>(mut self, f: F) -> Self
    where
        F: Fn(State, State, u64) + Send + Sync + 'static,
    {
        self.callbacks.state = Some(Box::new(f));
        self
    }

    /// Call `f(leader, term)` when the known leader changes; `leader` is
    /// `None` when no leader is known. Same thread rules as
    /// [`on_state_change`](Builder::on_state_change).
    pub fn on_leader_change<F>(mut self, f: F) -> Self
    where
        F: Fn(Option<&str>, u64) + Send + Sync + 'static,
    {
        self.callbacks.leader = Some(Box::new(f));
        self
    }

    /// Call `f(held, lease)` when this node starts to hold the lease (`held`
    /// true: act as the leader, carrying `lease.term`, the fencing token)
    /// and when it stops (false: the deadline passed without renewal, a
    /// step-down, a higher term, close; `lease` is the one that ended).
    /// Every loss follows exactly one acquisition of the same term; the loss
    /// is due at the deadline itself (a timer of the node's own), and a
    /// process paused past it gets it at once on resume. This, not the
    /// change to [`State::Leader`] (about one round trip earlier), is the
    /// signal to start and stop leader work. Renewals are silent:
    /// [`Node::lease`] gives the newest deadline. Same thread rules as
    /// [`on_state_change`](Builder::on_state_change); the events of
    /// [`Node::next_event`] carry the same sequence.
    pub fn on_lease<F>(mut self, f: F) -> Self
    where
        F: Fn(bool, Lease) + Send + Sync + 'static,
    {
        self.callbacks.lease = Some(Box::new(f));
        self
    }

    /// Call `f(err)` with problems the node cannot fix by itself: a state
    /// file that cannot be written ([`ErrorKind::Storage`](crate::ErrorKind::Storage)),
    /// a peer whose TLS handshake fails ([`ErrorKind::Tls`](crate::ErrorKind::Tls)),
    /// a peer that cannot be reached ([`ErrorKind::Network`](crate::ErrorKind::Network));
    /// rate limited. Also called (with [`ErrorKind::Internal`](crate::ErrorKind::Internal))
    /// when another callback of the node panicked.
    pub fn on_error<F>(mut self, f: F) -> Self
    where
        F: Fn(&Error) + Send + Sync + 'static,
    {
        self.callbacks.error = Some(Box::new(f));
        self
    }

    /// Call `f(level, line)` with the node's log lines, its transport's, and
    /// those the Go runtime or quic-go log process-wide. Without any log
    /// callback in the process those go to stderr.
    pub fn on_log<F>(mut self, f: F) -> Self
    where
        F: Fn(LogLevel, &str) + Send + Sync + 'static,
    {
        self.callbacks.log = Some(Box::new(f));
        self
    }

    /// The least severe level given to [`on_log`](Builder::on_log); lines
    /// below it are not even formatted. Default [`LogLevel::Info`].
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = Some(level);
        self
    }

    /// Let the application refuse votes to candidates whose data is behind:
    /// `position()` returns this node's position (any encoding, at most
    /// 1024 bytes; longer abandons the campaign), sent with every vote
    /// request; `grant(candidate_position)` returns true to allow the vote.
    /// Both run on helper threads, possibly concurrently with each other and
    /// with the other callbacks, and must return within the heartbeat
    /// interval. A panic in `position` abandons the campaign; in `grant`
    /// it refuses the vote.
    pub fn vote_hooks<P, G>(mut self, position: P, grant: G) -> Self
    where
        P: Fn() -> Vec<u8> + Send + Sync + 'static,
        G: Fn(&[u8]) -> bool + Send + Sync + 'static,
    {
        self.callbacks.position = Some(Box::new(position));
        self.callbacks.grant = Some(Box::new(grant));
        self
    }

    /// Validate the configuration, load the state file, bind the listen
    /// address and start the node. It joins the election at once as a
    /// follower and returns without waiting for a leader.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// (bad id, peer, address or timing; a string with a NUL byte),
    /// [`Storage`](crate::ErrorKind::Storage) (state file corrupt or
    /// unreadable), [`Tls`](crate::ErrorKind::Tls) (certificate, key or CA
    /// missing or unsuitable), [`Network`](crate::ErrorKind::Network)
    /// (listen address cannot be bound), [`Fork`](crate::ErrorKind::Fork).
    /// The message names the field or file at fault. On error no callback
    /// was ever called.
    pub fn start(self) -> Result<Node> {
        let config = Config::new(&self.cluster, &self.node_id, &self.listen)?;
        for (id, addr) in &self.peers {
            let (id, addr) = (cstr(id, "peer id")?, cstr(addr, "peer address")?);
            // SAFETY: config is live; the strings are NUL-terminated and copied.
            check(unsafe { ffi::graft_config_add_peer(config.0, id.as_ptr(), addr.as_ptr()) })?;
        }
        if let Some(p) = &self.state_path {
            let p = cpath(p, "state path")?;
            // SAFETY: config is live; the string is NUL-terminated and copied.
            check(unsafe { ffi::graft_config_set_state_path(config.0, p.as_ptr()) })?;
        }
        if let Some((cert, key, ca)) = &self.tls {
            let (cert, key, ca) = (cpath(cert, "certificate")?, cpath(key, "key")?, cpath(ca, "CA")?);
            // SAFETY: config is live; the strings are NUL-terminated and copied.
            check(unsafe { ffi::graft_config_set_tls(config.0, cert.as_ptr(), key.as_ptr(), ca.as_ptr()) })?;
        }
        if let Some((hb, min, max)) = self.timeouts {
            let (hb, min, max) = (millis(hb, "heartbeat")?, millis(min, "election_min")?, millis(max, "election_max")?);
            // SAFETY: config is live.
            check(unsafe { ffi::graft_config_set_timeouts(config.0, hb, min, max) })?;
        }
        if let Some(drift) = self.max_clock_drift {
            // SAFETY: config is live.
            check(unsafe { ffi::graft_config_set_max_clock_drift(config.0, drift) })?;
        }
        if let Some(priority) = self.priority {
            // SAFETY: config is live.
            check(unsafe { ffi::graft_config_set_priority(config.0, priority) })?;
        }
        if let Some(delay) = self.succession_delay {
            let delay = millis(delay, "succession_delay")?;
            // SAFETY: config is live.
            check(unsafe { ffi::graft_config_set_succession_delay(config.0, delay) })?;
        }

        let mut cbs = Box::new(self.callbacks);
        cbs.node_id = self.node_id.clone();
        // From here on the box is only a raw pointer, never moved nor
        // borrowed mutably: the library's threads read it through ctx.
        let owned = OwnedCallbacks(Box::into_raw(cbs));
        let ctx = owned.0 as *mut c_void;
        // SAFETY: owned.0 came from Box::into_raw just above; only shared
        // references are made from it.
        let cbs: &Callbacks = unsafe { &*owned.0 };
        // SAFETY (all six): config is live; ctx points to the Callbacks box,
        // which the Node owns and frees only after graft_node_close returned
        // (or `owned` frees it on an early return, before any node exists:
        // then no callback ever runs). The trampolines match the C callback
        // types.
        unsafe {
            if cbs.state.is_some() {
                check(ffi::graft_config_on_state_change(config.0, Some(callbacks::on_state), ctx))?;
            }
            if cbs.leader.is_some() {
                check(ffi::graft_config_on_leader_change(config.0, Some(callbacks::on_leader), ctx))?;
            }
            if cbs.lease.is_some() {
                check(ffi::graft_config_on_lease(config.0, Some(callbacks::on_lease), ctx))?;
            }
            if cbs.error.is_some() {
                check(ffi::graft_config_on_error(config.0, Some(callbacks::on_error), ctx))?;
            }
            if cbs.log.is_some() {
                check(ffi::graft_config_on_log(config.0, Some(callbacks::on_log), ctx))?;
                if let Some(level) = self.log_level {
                    check(ffi::graft_config_set_log_level(config.0, level.to_raw()))?;
                }
            }
            if cbs.position.is_some() || cbs.grant.is_some() {
                check(ffi::graft_config_set_vote_hooks(
                    config.0,
                    Some(callbacks::position),
                    Some(callbacks::grant),
                    ctx,
                ))?;
            }
        }

        let mut raw = ptr::null_mut();
        let mut errbuf = [0 as c_char; 1024];
        // SAFETY: config is live; raw and errbuf are valid for writes, and
        // errlen is errbuf's size (the library NUL-terminates within it).
        let rc = unsafe { ffi::graft_node_new(config.0, &mut raw, errbuf.as_mut_ptr(), errbuf.len()) };
        drop(config); // the node copied it
        if rc != ffi::GRAFT_OK || raw.is_null() {
            let rc = if rc == ffi::GRAFT_OK { ffi::GRAFT_EINTERNAL } else { rc };
            // SAFETY: errbuf is NUL-terminated by the library (or still all zero).
            let msg = unsafe { std::ffi::CStr::from_ptr(errbuf.as_ptr()) }.to_string_lossy().into_owned();
            let msg = if msg.is_empty() { crate::error::strerror(rc) } else { msg };
            return Err(Error::new(rc, msg));
        }
        Ok(Node { raw, callbacks: owned.into_node(), id: self.node_id })
    }
}

/// The Callbacks box of a node being started: freed if `start` returns
/// early (no node exists then, so no callback can run), handed to the Node
/// otherwise.
struct OwnedCallbacks(*mut Callbacks);

impl OwnedCallbacks {
    fn into_node(self) -> *mut Callbacks {
        let p = self.0;
        std::mem::forget(self);
        p
    }
}

impl Drop for OwnedCallbacks {
    fn drop(&mut self) {
        // SAFETY: from Box::into_raw in start, freed once; no node exists.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// A `graft_config`, freed on drop.
struct Config(*mut ffi::graft_config);

impl Config {
    fn new(cluster: &str, node_id: &str, listen: &str) -> Result<Config> {
        let (c, n, l) = (cstr(cluster, "cluster")?, cstr(node_id, "node id")?, cstr(listen, "listen address")?);
        // SAFETY: three NUL-terminated strings, copied by the library.
        let raw = unsafe { ffi::graft_config_new(c.as_ptr(), n.as_ptr(), l.as_ptr()) };
        if raw.is_null() {
            // Only in a forked child (graft.h).
            return Err(Error::from_code(ffi::GRAFT_EFORK));
        }
        Ok(Config(raw))
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: self.0 came from graft_config_new and is freed once.
        unsafe { ffi::graft_config_free(self.0) }
    }
}

fn cstr(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("graft: the {what} {s:?} contains a NUL byte")))
}

fn cpath(p: &Path, what: &str) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("graft: the {what} path {} contains a NUL byte", p.display())))
}

/// Whole milliseconds, rounded up (so a non-zero duration never means
/// "default"); too long for a u32 is an error.
fn millis(d: Duration, what: &str) -> Result<u32> {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).map_err(|_| Error::invalid(format!("graft: {what} {d:?} is too long")))
}

/// A running election node: a member of a cluster that is told whether it
/// leads.
///
/// Made by [`Node::builder`]. Queries never block (about one C call each) and
/// may be made from any thread, also from the node's own callbacks: a node is
/// `Send + Sync`, share it with `Arc<Node>`. [`close`](Node::close) (or
/// dropping the node) hands leadership over if it leads, stops the node,
/// waits for its callbacks and frees them.
///
/// ```no_run
/// use std::time::Duration;
///
/// let node = graft::Node::builder("prod", "n1", "127.0.0.1:7001")
///     .peer("n2", "127.0.0.1:7002")
///     .peer("n3", "127.0.0.1:7003")
///     .state_path("/var/lib/app/n1.graft")
///     .tls("certs/n1.pem", "certs/n1-key.pem", "certs/ca.pem")
///     .start()?;
/// loop {
///     if let Some(lease) = node.lease() {
///         // lead: pass lease.term (the fencing token) to the guarded resource,
///         // and stop before lease.remaining() runs out.
///     }
///     std::thread::sleep(Duration::from_millis(100));
/// #   break;
/// }
/// node.close()?;
/// # Ok::<(), graft::Error>(())
/// ```
pub struct Node {
    /// The library's handle; never NULL while the Node exists.
    raw: *mut ffi::graft_node,
    /// The closures behind every ctx pointer, from `Box::into_raw`: the
    /// library's threads read them through that pointer until
    /// graft_node_close has returned, so they are never moved nor freed
    /// before (see close_inner). Null once freed.
    callbacks: *mut Callbacks,
    id: String,
}

// SAFETY: the graft_node handle is an opaque number the library looks up in
// a mutex-guarded table; graft.h allows every function on it from any
// thread, concurrently. The Callbacks box is only read (&) by the library's
// threads and by callback_panics, its closures are Send + Sync, and its
// counter is atomic. The handle is closed exactly once (close takes self,
// Drop runs once).
unsafe impl Send for Node {}
// SAFETY: see Send: every &self method is a thread-safe C query.
unsafe impl Sync for Node {}
// A panic while a &Node is in use cannot leave it half-updated: &self
// methods only query the library, and the callbacks they share are
// immutable closures plus an atomic counter.
impl std::panic::UnwindSafe for Node {}
impl std::panic::RefUnwindSafe for Node {}

impl Node {
    /// Start configuring a node: the cluster name (nodes of other clusters
    /// are refused), this node's id (unique in the cluster and the name in
    /// its certificate: 1..253 characters of `A-Z a-z 0-9 . _ -`, not
    /// starting with `.` or `-`, not `"ca"`) and the UDP `"host:port"` to
    /// listen on. See [`Builder`]. Takes `&str`, `String` or `&&str`.
    pub fn builder(cluster: impl AsRef<str>, node_id: impl AsRef<str>, listen: impl AsRef<str>) -> Builder {
        Builder {
            cluster: cluster.as_ref().to_owned(),
            node_id: node_id.as_ref().to_owned(),
            listen: listen.as_ref().to_owned(),
            peers: Vec::new(),
            state_path: None,
            tls: None,
            timeouts: None,
            max_clock_drift: None,
            priority: None,
            succession_delay: None,
            log_level: None,
            callbacks: Callbacks::default(),
        }
    }

    /// This node's id, as given to [`Node::builder`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The current state. [`State::Closed`] in a forked child.
    pub fn state(&self) -> State {
        // SAFETY: raw is a live handle (closed only by close/drop, which
        // need ownership); the call never blocks.
        State::from_raw(unsafe { ffi::graft_node_state(self.raw) })
    }

    /// The current term, the fencing token: it only grows. 0 in a forked
    /// child.
    pub fn term(&self) -> u64 {
        // SAFETY: raw is a live handle.
        unsafe { ffi::graft_node_term(self.raw) }
    }

    /// The id of the leader this node follows (its own id on the leader);
    /// `None` when no leader is known.
    pub fn leader(&self) -> Option<String> {
        let mut buf = [0 as c_char; ffi::GRAFT_ID_MAX];
        // SAFETY: raw is a live handle; buf holds GRAFT_ID_MAX bytes, always
        // enough for an id plus its NUL (graft.h).
        let rc = unsafe { ffi::graft_node_leader(self.raw, buf.as_mut_ptr(), buf.len()) };
        if rc != ffi::GRAFT_OK {
            return None;
        }
        // SAFETY: on success buf is NUL-terminated.
        let id = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
        if id.is_empty() {
            None
        } else {
            Some(id)
        }
    }

    /// True if the node leads and its lease holds now (computed at the time
    /// of the call: a leader whose process was paused past its lease answers
    /// false at once). Under the configured clock drift, no two nodes of a
    /// cluster answer true at the same instant.
    pub fn is_leader(&self) -> bool {
        // SAFETY: raw is a live handle.
        unsafe { ffi::graft_node_is_leader(self.raw) == 1 }
    }

    /// The lease, if the node leads now: the term (fencing token) and the
    /// deadline by which the leader must stop acting. Heartbeats renew it:
    /// call again for a later deadline.
    pub fn lease(&self) -> Option<Lease> {
        let (mut term, mut deadline_ns) = (0u64, 0u64);
        // SAFETY: raw is a live handle; term and deadline_ns are valid for writes.
        let rc = unsafe { ffi::graft_node_lease(self.raw, &mut term, &mut deadline_ns) };
        (rc == 1).then_some(Lease { term, deadline_ns })
    }

    /// Wait until this node holds the lease and return it: at once if it
    /// holds it now; `Ok(None)` when `timeout` passed first (`None`: no
    /// limit). The lease may end right after: check
    /// [`Lease::holds`] (or call [`lease`](Node::lease)) before each piece
    /// of leader work.
    ///
    /// # Errors
    /// [`ErrorKind::Fork`](crate::ErrorKind::Fork) in a forked child.
    pub fn wait_lease(&self, timeout: Option<Duration>) -> Result<Option<Lease>> {
        let end = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let ms = match end {
                None => -1,
                Some(end) => {
                    let left = end.saturating_duration_since(std::time::Instant::now());
                    i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
                }
            };
            let (mut term, mut deadline_ns) = (0u64, 0u64);
            // SAFETY: raw is a live handle; term and deadline_ns are valid
            // for writes. The call blocks at most ms milliseconds (-1: until
            // the lease or close, which cannot happen while &self is held).
            let rc = check(unsafe { ffi::graft_node_wait_lease(self.raw, ms, &mut term, &mut deadline_ns) })?;
            if rc == 1 {
                return Ok(Some(Lease { term, deadline_ns }));
            }
            if end.map_or(false, |end| std::time::Instant::now() >= end) {
                return Ok(None);
            }
        }
    }

    /// The node's event descriptor: readable while events are queued, for
    /// poll(2), epoll, `mio` or `tokio::io::unix::AsyncFd`; read them with
    /// [`next_event`](Node::next_event). Events are queued from the first
    /// call on (a node that never calls it pays nothing): read the state
    /// with the queries after it. The node owns the descriptor: never read
    /// or close it, and unregister it from your event loop before the node
    /// is closed. The same descriptor every time.
    ///
    /// # Errors
    /// [`ErrorKind::Fork`](crate::ErrorKind::Fork) in a forked child,
    /// [`ErrorKind::Internal`](crate::ErrorKind::Internal) when the system
    /// has no descriptor left.
    pub fn event_fd(&self) -> Result<RawFd> {
        // SAFETY: raw is a live handle.
        check(unsafe { ffi::graft_node_event_fd(self.raw) })
    }

    /// The oldest queued event, or `None` when none is queued (see
    /// [`event_fd`](Node::event_fd)). Never blocks. The events are those of
    /// the callbacks, in the same order; [`Event::Overflow`] says older
    /// events were dropped (then read the state with the queries).
    ///
    /// # Errors
    /// [`ErrorKind::Fork`](crate::ErrorKind::Fork) in a forked child.
    pub fn next_event(&self) -> Result<Option<Event>> {
        Ok(self.next_stamped_event()?.map(|s| s.event))
    }

    /// As [`next_event`](Node::next_event), with the instant the node's
    /// core emitted the event ([`StampedEvent::at_ns`]): a program that
    /// times how late it learns of its lease compares it with
    /// [`monotonic_ns`](crate::monotonic_ns).
    ///
    /// # Errors
    /// [`ErrorKind::Fork`](crate::ErrorKind::Fork) in a forked child.
    pub fn next_stamped_event(&self) -> Result<Option<StampedEvent>> {
        let mut ev = ffi::graft_event::new();
        // SAFETY: raw is a live handle; ev is a graft_event whose size field
        // says how many bytes the library may fill.
        let rc = check(unsafe { ffi::graft_node_next_event(self.raw, &mut ev) })?;
        Ok((rc == 1).then(|| StampedEvent::from_raw(&ev)))
    }

    /// The node's events from now on, blocking: each `next` waits for the
    /// next event (poll(2) on [`event_fd`](Node::event_fd)). Never ends
    /// while the node runs; an error (a forked child) is yielded once, then
    /// the iterator ends.
    ///
    /// ```no_run
    /// # let node: graft::Node = unimplemented!();
    /// for event in node.events() {
    ///     match event? {
    ///         graft::Event::LeaseAcquired(lease) => println!("leading at term {}", lease.term),
    ///         graft::Event::LeaseLost(_) => println!("stop leading"),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok::<(), graft::Error>(())
    /// ```
    pub fn events(&self) -> Events<'_> {
        Events { node: self, failed: false }
    }

    /// Hand leadership over to the most recently heard peer, which
    /// campaigns at once: a new leader in about one round trip instead of an
    /// election timeout (use before a planned restart). The lease ends
    /// before it returns, and with it every deadline handed out before (by
    /// [`lease`](Node::lease), [`wait_lease`](Node::wait_lease), the lease
    /// callback or events): stop acting when you call it, not when that
    /// deadline passes, since the successor may hold a lease one round trip
    /// later. Waits briefly for the election thread, not for the new
    /// leader.
    ///
    /// # Errors
    /// [`ErrorKind::NotLeader`](crate::ErrorKind::NotLeader) if the node does
    /// not lead; [`ErrorKind::NoPeer`](crate::ErrorKind::NoPeer) if no peer
    /// answered within the election timeout (the node keeps leading).
    pub fn step_down(&self) -> Result<()> {
        // SAFETY: raw is a live handle.
        check(unsafe { ffi::graft_node_step_down(self.raw) }).map(drop)
    }

    /// Read the certificate, key and CA files given to
    /// [`Builder::tls`](crate::Builder::tls) again now, and use them for
    /// every connection made from now on (connections up stay as they are).
    /// The node does this by itself within about 2 s of a change of the
    /// files (a bad file then goes to the error callback, with
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls)); call this after writing
    /// new files to learn at once whether they are good. They are checked
    /// as at start: the key matches the certificate, which names this node,
    /// is valid now, is bound to no other cluster and chains to a CA of the
    /// CA file. The CA file may hold several CAs, so a cluster rotates its
    /// CA without a leader change: add the new CA to every node's CA file,
    /// reissue the node certificates, then remove the old CA.
    ///
    /// # Errors
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls), with a message naming the
    /// file, if a file is missing, unreadable or unsuitable: the node keeps
    /// the files it used.
    pub fn reload_tls(&self) -> Result<()> {
        let mut errbuf = [0 as c_char; 1024];
        // SAFETY: raw is a live handle; errbuf is valid for errlen bytes of
        // writes (the library NUL-terminates within them).
        let rc = unsafe { ffi::graft_node_reload_tls(self.raw, errbuf.as_mut_ptr(), errbuf.len()) };
        if rc >= 0 {
            return Ok(());
        }
        // SAFETY: errbuf is NUL-terminated by the library (or still all zero).
        let msg = unsafe { std::ffi::CStr::from_ptr(errbuf.as_ptr()) }.to_string_lossy().into_owned();
        Err(if msg.is_empty() { Error::from_code(rc) } else { Error::new(rc, msg) })
    }

    /// The node's counters.
    pub fn stats(&self) -> Stats {
        let mut raw = ffi::graft_stats::new();
        // SAFETY: raw is a live handle; `raw` is a graft_stats whose size
        // field says how many bytes the library may fill.
        let rc = unsafe { ffi::graft_node_stats(self.raw, &mut raw) };
        if rc != ffi::GRAFT_OK {
            // Only in a forked child: report a closed node.
            raw = ffi::graft_stats::new();
            raw.state = ffi::GRAFT_CLOSED;
        }
        Stats::from_raw(&raw, self.callback_panics())
    }

    /// How many panics were caught in this node's callbacks.
    pub fn callback_panics(&self) -> u64 {
        // SAFETY: non-null, the pointer is the live Callbacks box (freed
        // only by close_inner, which nulls it first); only & is made.
        unsafe { self.callbacks.as_ref() }.map_or(0, |c| c.panics.load(Ordering::Relaxed))
    }

    /// Stop the node: a leader first hands over to a reachable peer (waiting
    /// at most the minimum election timeout), then the node stops, its
    /// sockets close, the change to [`State::Closed`] is delivered, every
    /// thread of the node ends and its callbacks are freed. The state file
    /// is kept. Dropping a node does the same and ignores errors.
    ///
    /// # Errors
    /// [`ErrorKind::Busy`](crate::ErrorKind::Busy) when called from one of
    /// this node's own callbacks (the library cannot wait for the callback
    /// that is calling it): the close then completes on a new thread as
    /// soon as that callback returns. [`ErrorKind::Fork`](crate::ErrorKind::Fork)
    /// in a forked child.
    ///
    /// From a callback of *another* node, close stops this node without
    /// waiting for its callbacks (two callbacks closing each other's node
    /// would otherwise wait for each other forever): the callback running
    /// then and the final ones (the lease's loss, the change to
    /// [`State::Closed`], last) may run after close returned, so this
    /// node's closures are kept (leaked) rather than freed.
    ///
    /// A close never runs a backlog: callbacks still queued when the node
    /// stops are dropped ([`Stats::callbacks_dropped`](crate::Stats)),
    /// except the loss of a lease the closures were told of and the final
    /// change to [`State::Closed`].
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        let raw = std::mem::replace(&mut self.raw, ptr::null_mut());
        let cbs = std::mem::replace(&mut self.callbacks, ptr::null_mut());
        if raw.is_null() {
            return Ok(());
        }
        // SAFETY: raw is a live handle, closed exactly once (it was just
        // taken out of self).
        let rc = unsafe { ffi::graft_node_close(raw) };
        if rc == ffi::GRAFT_EBUSY {
            // Called from a callback of this node, which reads cbs right
            // now: close from another thread once it returned, then free.
            let job = DeferredClose { raw, cbs };
            if let Err(e) = spawn_closer(move || job.finish()) {
                // The job was dropped without running: it frees nothing, so
                // the running callback keeps its closures. Nobody can close
                // the node later either: it runs on, and its box is leaked.
                let _ = writeln!(
                    io::stderr(),
                    "graft: node {}: no thread for the close asked from its own callback ({e}); the node keeps running",
                    self.id
                );
            }
            return Err(Error::from_code(rc));
        }
        if callbacks::in_callback() && rc == ffi::GRAFT_OK {
            // Closed from a callback of another node: the library did not
            // wait for this node's callbacks (two such closes would wait
            // for each other), which may still run, so the closures stay:
            // leaked, nobody can tell when the last callback returned.
            return Ok(());
        }
        // graft_node_close returned: no callback runs again (graft.h), so
        // the closures can go. (In a forked child no library thread exists.)
        // SAFETY: cbs came from Box::into_raw in start and is freed once
        // (self.callbacks was nulled above).
        drop(unsafe { Box::from_raw(cbs) });
        check(rc).map(drop)
    }
}

/// A close asked from the node's own callback, finished on another thread.
/// It has no Drop: dropped without running (no thread could start), it
/// frees nothing, so the callback that asked keeps its closures.
struct DeferredClose {
    raw: *mut ffi::graft_node,
    cbs: *mut Callbacks,
}

// SAFETY: handles may be used from any thread (graft.h, THREADS), and the
// Callbacks box is Send + Sync; the job is its only owner once moved.
unsafe impl Send for DeferredClose {}

impl DeferredClose {
    fn finish(self) {
        // SAFETY: the handle is still live (the EBUSY close did nothing)
        // and nobody else holds it; this close waits for the callback that
        // asked for it.
        unsafe { ffi::graft_node_close(self.raw) };
        // SAFETY: graft_node_close returned, so no callback runs again; cbs
        // came from Box::into_raw and this is its only free.
        drop(unsafe { Box::from_raw(self.cbs) });
    }
}

/// Start the thread of a deferred close. An error (no thread could start)
/// drops `f` unrun, as `thread::Builder::spawn` does.
fn spawn_closer(f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    #[cfg(test)]
    if crate::tests::FAIL_SPAWN.with(|fail| fail.get()) {
        return Err(io::Error::other("thread creation failed (injected by a test)"));
    }
    std::thread::Builder::new().name("graft-close".into()).spawn(f).map(drop)
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.close_inner();
    }
}

/// The node's event descriptor ([`Node::event_fd`]), so that poll(2), `mio`
/// or `tokio::io::unix::AsyncFd` can watch a node; -1 when it cannot be made
/// (a forked child, no descriptor left: `event_fd` says why).
impl AsRawFd for Node {
    fn as_raw_fd(&self) -> RawFd {
        self.event_fd().unwrap_or(-1)
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("id", &self.id).field("state", &self.state()).field("term", &self.term()).finish()
    }
}

#[cfg(test)]
impl Node {
    pub(crate) fn raw_for_tests(&self) -> *mut ffi::graft_node {
        self.raw
    }
}

#[cfg(test)]
pub(crate) fn millis_for_tests(d: Duration) -> Result<u32> {
    millis(d, "test")
}
