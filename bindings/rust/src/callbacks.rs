//! The closures a node owns and the `extern "C"` trampolines that call them.
//!
//! One [`Callbacks`] box per node; its address is the `ctx` pointer given to
//! every `graft_config_on_*` setter. The box is freed only after
//! `graft_node_close` has returned (the library promises no callback runs
//! after that). Every trampoline runs the closure inside `catch_unwind`: a
//! panic never unwinds into Go (it would abort the process); it is printed
//! to stderr, counted ([`Node::callback_panics`](crate::Node::callback_panics)),
//! and reported to the `on_error` closure if there is one. Nothing on that
//! reporting path may panic itself: it would be outside `catch_unwind`.

use std::any::Any;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{ffi, Error, Lease, LogLevel, State};

pub(crate) type StateFn = Box<dyn Fn(State, State, u64) + Send + Sync>;
pub(crate) type LeaderFn = Box<dyn Fn(Option<&str>, u64) + Send + Sync>;
pub(crate) type ErrorFn = Box<dyn Fn(&Error) + Send + Sync>;
pub(crate) type LogFn = Box<dyn Fn(LogLevel, &str) + Send + Sync>;
pub(crate) type PositionFn = Box<dyn Fn() -> Vec<u8> + Send + Sync>;
pub(crate) type GrantFn = Box<dyn Fn(&[u8]) -> bool + Send + Sync>;
pub(crate) type LeaseFn = Box<dyn Fn(bool, Lease) + Send + Sync>;

/// Everything a node calls back into. Shared (`&`) by the library's threads.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub node_id: String,
    pub state: Option<StateFn>,
    pub leader: Option<LeaderFn>,
    pub error: Option<ErrorFn>,
    pub log: Option<LogFn>,
    pub position: Option<PositionFn>,
    pub grant: Option<GrantFn>,
    pub lease: Option<LeaseFn>,
    pub panics: AtomicU64,
}

thread_local! {
    /// How many of this crate's callbacks the current thread is inside.
    static IN_CALLBACK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether the current thread runs one of this crate's callbacks (of any
/// node): a close from there does not wait for the closed node's
/// callbacks (graft.h, CALLBACKS), which may run after it returned.
pub(crate) fn in_callback() -> bool {
    IN_CALLBACK.with(|d| d.get() > 0)
}

/// Counts the current thread in a callback while it lives.
struct InCallback;

impl InCallback {
    fn enter() -> InCallback {
        IN_CALLBACK.with(|d| d.set(d.get() + 1));
        InCallback
    }
}

impl Drop for InCallback {
    fn drop(&mut self) {
        IN_CALLBACK.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl Callbacks {
    /// Run `f`, catching a panic: count it, print it, tell `on_error`.
    /// Returns `None` if `f` panicked.
    fn guard<R>(&self, what: &str, f: impl FnOnce() -> R) -> Option<R> {
        let _inside = InCallback::enter();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.panics.fetch_add(1, Ordering::Relaxed);
                let msg = format!(
                    "graft: the {what} callback of node {} panicked: {}",
                    self.node_id,
                    panic_message(&payload)
                );
                // Not eprintln!: it panics when the write fails (stderr a
                // closed pipe), and that panic would abort the process.
                let _ = writeln!(io::stderr(), "{msg}");
                if what != "error" {
                    if let Some(cb) = &self.error {
                        let err = Error::new(ffi::GRAFT_EINTERNAL, msg);
                        // A panicking error callback is only counted.
                        if catch_unwind(AssertUnwindSafe(|| cb(&err))).is_err() {
                            self.panics.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // Drop the payload here, where a panic in its Drop is caught too.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                None
            }
        }
    }
}

fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

/// The callbacks behind a `ctx` pointer.
///
/// # Safety
/// `ctx` must be the pointer given to the config by `Builder::start`: a
/// `Callbacks` box that outlives the node (freed only after close returned).
unsafe fn callbacks<'a>(ctx: *mut c_void) -> &'a Callbacks {
    // SAFETY: guaranteed by the caller (see above); only shared references
    // are ever made, and Callbacks is Sync.
    unsafe { &*(ctx as *const Callbacks) }
}

/// A C string valid for the call as `&str` (lossy for invalid UTF-8).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for `'a`.
unsafe fn text<'a>(p: *const c_char) -> std::borrow::Cow<'a, str> {
    if p.is_null() {
        return "".into();
    }
    // SAFETY: non-NULL and NUL-terminated, valid during the call (caller).
    unsafe { CStr::from_ptr(p) }.to_string_lossy()
}

pub(crate) unsafe extern "C" fn on_state(ctx: *mut c_void, from: c_int, to: c_int, term: u64) {
    // SAFETY: ctx is the node's Callbacks box, alive until close returned.
    let cbs = unsafe { callbacks(ctx) };
    if let Some(cb) = &cbs.state {
        cbs.guard("state change", || cb(State::from_raw(from), State::from_raw(to), term));
    }
}

pub(crate) unsafe extern "C" fn on_leader(ctx: *mut c_void, leader: *const c_char, term: u64) {
    // SAFETY: ctx is the node's Callbacks box, alive until close returned.
    let cbs = unsafe { callbacks(ctx) };
    if let Some(cb) = &cbs.leader {
        // SAFETY: leader_id is a NUL-terminated string valid during the call.
        let id = unsafe { text(leader) };
        cbs.guard("leader change", || cb(if id.is_empty() { None } else { Some(&id) }, term));
    }
}

pub(crate) unsafe extern "C" fn on_lease(ctx: *mut c_void, held: c_int, term: u64, deadline_ns: u64) {
    // SAFETY: ctx is the node's Callbacks box, alive until close returned.
    let cbs = unsafe { callbacks(ctx) };
    if let Some(cb) = &cbs.lease {
        cbs.guard("lease", || cb(held != 0, Lease { term, deadline_ns }));
    }
}

pub(crate) unsafe extern "C" fn on_error(ctx: *mut c_void, code: c_int, message: *const c_char) {
    // SAFETY: ctx is the node's Callbacks box, alive until close returned.
    let cbs = unsafe { callbacks(ctx) };
    if let Some(cb) = &cbs.error {
        // SAFETY: message is a NUL-terminated string valid during the call.
        let err = Error::new(code, unsafe { text(message) });
        cbs.guard("error", || cb(&err));
    }
}

pub(crate) unsafe extern "C" fn on_log(ctx: *mut c_void, level: c_int, message: *const c_char) {
    // SAFETY: ctx is the node's Callbacks box, alive until close returned.
    let cbs = unsafe { callbacks(ctx) };
    if let Some(cb) = &cbs.log {
        // SAFETY: message is a NUL-terminated string valid during the call.
        let msg = unsafe { text(message) };
        cbs.guard("log", || cb(LogLevel::from_raw(level), &msg));
    }
}

pub(crate) unsafe extern "C" fn position(ctx: *mut c_void, buf: *mut u8, cap: usize) -> usize {
    // SAFETY: ctx is the node's Callbacks box, alive until close returned.
    let cbs = unsafe { callbacks(ctx) };
    let Some(cb) = &cbs.position else { return 0 };
    match cbs.guard("position", cb) {
        Some(pos) => {
            let n = pos.len().min(cap);
            // SAFETY: buf holds cap bytes (graft.h), n <= cap, and a Vec
            // never overlaps the library's buffer.
            unsafe { std::ptr::copy_nonoverlapping(pos.as_ptr(), buf, n) };
            // Longer than cap: the library refuses it (the campaign is
            // abandoned), as graft.h documents.
            pos.len()
        }
        // A panic abandons the campaign rather than send no position.
        None => cap.saturating_add(1),
    }
}

pub(crate) unsafe extern "C" fn grant(ctx: *mut c_void, pos: *const u8, len: usize) -> c_int {
    // SAFETY: ctx is the node's Callbacks box, alive until close returned.
    let cbs = unsafe { callbacks(ctx) };
    let Some(cb) = &cbs.grant else { return 1 };
    let pos: &[u8] = if pos.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: pos points to len bytes valid during the call (graft.h).
        unsafe { std::slice::from_raw_parts(pos, len) }
    };
    // A panic refuses the vote.
    c_int::from(cbs.guard("grant", || cb(pos)).unwrap_or(false))
}
