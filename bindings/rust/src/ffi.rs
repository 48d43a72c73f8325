//! The raw C interface of libgraft, declared by hand from include/graft.h.
//!
//! Private: the safe API in the rest of the crate is the only user. Enums of
//! the header cross the boundary as `c_int` (a C enum is an `int`), never as
//! Rust enums, so a value this binding does not know cannot be undefined
//! behaviour. The unit tests compare every size, offset and constant here
//! with the C header (see build.rs).

#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_double, c_int, c_void};

pub const GRAFT_OK: c_int = 0;
pub const GRAFT_EINVAL: c_int = -1;
pub const GRAFT_ECLOSED: c_int = -2;
pub const GRAFT_ESTORAGE: c_int = -3;
pub const GRAFT_ETLS: c_int = -4;
pub const GRAFT_ENETWORK: c_int = -5;
pub const GRAFT_ERANGE: c_int = -6;
pub const GRAFT_EBUSY: c_int = -7;
pub const GRAFT_ENOTLEADER: c_int = -8;
pub const GRAFT_EFORK: c_int = -9;
pub const GRAFT_EINTERNAL: c_int = -10;
pub const GRAFT_ENOPEER: c_int = -11;
pub const GRAFT_EHOOK: c_int = -12;

pub const GRAFT_FOLLOWER: c_int = 0;
pub const GRAFT_CANDIDATE: c_int = 1;
pub const GRAFT_LEADER: c_int = 2;
pub const GRAFT_CLOSED: c_int = 3;

pub const GRAFT_LOG_DEBUG: c_int = 0;
pub const GRAFT_LOG_INFO: c_int = 1;
pub const GRAFT_LOG_WARN: c_int = 2;
pub const GRAFT_LOG_ERROR: c_int = 3;

pub const GRAFT_MSG_PREVOTE: c_int = 0;
pub const GRAFT_MSG_PREVOTE_RESP: c_int = 1;
pub const GRAFT_MSG_VOTE: c_int = 2;
pub const GRAFT_MSG_VOTE_RESP: c_int = 3;
pub const GRAFT_MSG_HEARTBEAT: c_int = 4;
pub const GRAFT_MSG_HEARTBEAT_RESP: c_int = 5;
pub const GRAFT_MSG_TIMEOUT_NOW: c_int = 6;

pub const GRAFT_EVENT_STATE: c_int = 1;
pub const GRAFT_EVENT_LEADER: c_int = 2;
pub const GRAFT_EVENT_LEASE_ACQUIRED: c_int = 3;
pub const GRAFT_EVENT_LEASE_LOST: c_int = 4;
pub const GRAFT_EVENT_OVERFLOW: c_int = 5;

pub const GRAFT_MSG_KIND_SLOTS: usize = 8;
pub const GRAFT_ID_MAX: usize = 256;
pub const GRAFT_POSITION_MAX: usize = 1024;

pub const GRAFT_VERSION_MAJOR: u32 = 0;
pub const GRAFT_VERSION_MINOR: u32 = 1;
pub const GRAFT_VERSION_PATCH: u32 = 0;

/// Opaque `graft_config`.
#[repr(C)]
pub struct graft_config {
    _private: [u8; 0],
}

/// Opaque `graft_node`.
#[repr(C)]
pub struct graft_node {
    _private: [u8; 0],
}

/// `graft_stats`, field for field.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct graft_stats {
    pub size: usize,
    pub state: i32,
    pub reserved0: u32,
    pub term: u64,
    pub leader: [c_char; GRAFT_ID_MAX],
    pub prevotes_started: u64,
    pub prevotes_lost: u64,
    pub elections_started: u64,
    pub elections_won: u64,
    pub leader_changes: u64,
    pub step_downs: u64,
    pub transfers: u64,
    pub storage_errors: u64,
    pub callbacks_queued: u64,
    pub since_leader_contact_ns: i64,
    pub msgs_sent: [u64; GRAFT_MSG_KIND_SLOTS],
    pub msgs_received: [u64; GRAFT_MSG_KIND_SLOTS],
    pub msgs_dropped: [u64; GRAFT_MSG_KIND_SLOTS],
    pub net_msgs_sent: u64,
    pub net_bytes_sent: u64,
    pub net_msgs_received: u64,
    pub net_bytes_received: u64,
    pub net_reconnects: u64,
    pub drop_malformed: u64,
    pub drop_wrong_cluster: u64,
    pub drop_bad_version: u64,
    pub drop_oversized: u64,
    pub drop_spoofed_sender: u64,
    pub drop_unknown_peer: u64,
    pub drop_handshake_failed: u64,
    pub drop_queue_full: u64,
    pub drop_invalid_packet: u64,
    pub callback_delay_last_ns: u64,
    pub callback_delay_max_ns: u64,
    pub callbacks_dropped: u64,
    pub rank: u32,
    pub reserved1: u32,
    pub priority_takeovers: u64,
    pub successor: [c_char; GRAFT_ID_MAX],
}

impl graft_stats {
    /// All zero, with `size` set: ready for `graft_node_stats`.
    pub fn new() -> Self {
        // SAFETY: graft_stats is plain old data (integers and a char array):
        // all-zero bytes are a valid value.
        let mut s: graft_stats = unsafe { std::mem::zeroed() };
        s.size = std::mem::size_of::<graft_stats>();
        s
    }
}

/// `graft_event`, field for field (`from` is a Rust keyword: `from_`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct graft_event {
    pub size: u32,
    pub kind: c_int,
    pub from_: c_int,
    pub to: c_int,
    pub term: u64,
    pub deadline_ns: u64,
    pub leader: [c_char; GRAFT_ID_MAX],
    pub at_ns: u64,
}

impl graft_event {
    /// All zero, with `size` set: ready for `graft_node_next_event`.
    pub fn new() -> Self {
        // SAFETY: graft_event is plain old data (integers and a char array):
        // all-zero bytes are a valid value.
        let mut e: graft_event = unsafe { std::mem::zeroed() };
        e.size = std::mem::size_of::<graft_event>() as u32;
        e
    }
}

pub type graft_state_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, from: c_int, to: c_int, term: u64)>;
pub type graft_leader_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, leader_id: *const c_char, term: u64)>;
pub type graft_error_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, code: c_int, message: *const c_char)>;
pub type graft_log_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, level: c_int, message: *const c_char)>;
pub type graft_position_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, cap: usize) -> usize>;
pub type graft_grant_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, position: *const u8, len: usize) -> c_int>;
pub type graft_lease_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, held: c_int, term: u64, deadline_ns: u64)>;

extern "C" {
    pub fn graft_config_new(
        cluster: *const c_char,
        node_id: *const c_char,
        listen_addr: *const c_char,
    ) -> *mut graft_config;
    pub fn graft_config_add_peer(c: *mut graft_config, node_id: *const c_char, addr: *const c_char) -> c_int;
    pub fn graft_config_set_state_path(c: *mut graft_config, path: *const c_char) -> c_int;
    pub fn graft_config_set_tls(
        c: *mut graft_config,
        cert_file: *const c_char,
        key_file: *const c_char,
        ca_file: *const c_char,
    ) -> c_int;
    pub fn graft_config_set_timeouts(
        c: *mut graft_config,
        heartbeat_ms: u32,
        election_min_ms: u32,
        election_max_ms: u32,
    ) -> c_int;
    pub fn graft_config_set_max_clock_drift(c: *mut graft_config, drift: c_double) -> c_int;
    pub fn graft_config_set_priority(c: *mut graft_config, priority: u32) -> c_int;
    pub fn graft_config_set_succession_delay(c: *mut graft_config, delay_ms: u32) -> c_int;
    pub fn graft_config_set_log_level(c: *mut graft_config, level: c_int) -> c_int;
    pub fn graft_config_on_state_change(c: *mut graft_config, f: graft_state_fn, ctx: *mut c_void) -> c_int;
    pub fn graft_config_on_leader_change(c: *mut graft_config, f: graft_leader_fn, ctx: *mut c_void) -> c_int;
    pub fn graft_config_on_error(c: *mut graft_config, f: graft_error_fn, ctx: *mut c_void) -> c_int;
    pub fn graft_config_on_log(c: *mut graft_config, f: graft_log_fn, ctx: *mut c_void) -> c_int;
    pub fn graft_config_set_vote_hooks(
        c: *mut graft_config,
        position: graft_position_fn,
        grant: graft_grant_fn,
        ctx: *mut c_void,
    ) -> c_int;
    pub fn graft_config_on_lease(c: *mut graft_config, f: graft_lease_fn, ctx: *mut c_void) -> c_int;
    pub fn graft_config_free(c: *mut graft_config);

    pub fn graft_node_new(
        c: *const graft_config,
        out: *mut *mut graft_node,
        errbuf: *mut c_char,
        errlen: usize,
    ) -> c_int;
    pub fn graft_node_close(n: *mut graft_node) -> c_int;
    pub fn graft_node_state(n: *mut graft_node) -> c_int;
    pub fn graft_node_term(n: *mut graft_node) -> u64;
    pub fn graft_node_leader(n: *mut graft_node, buf: *mut c_char, len: usize) -> c_int;
    pub fn graft_node_is_leader(n: *mut graft_node) -> c_int;
    pub fn graft_node_lease(n: *mut graft_node, term: *mut u64, deadline_ns: *mut u64) -> c_int;
    pub fn graft_node_step_down(n: *mut graft_node) -> c_int;
    pub fn graft_node_reload_tls(n: *mut graft_node, errbuf: *mut c_char, errlen: usize) -> c_int;
    pub fn graft_node_stats(n: *mut graft_node, out: *mut graft_stats) -> c_int;
    pub fn graft_node_wait_lease(n: *mut graft_node, timeout_ms: c_int, term: *mut u64, deadline_ns: *mut u64)
        -> c_int;
    pub fn graft_node_event_fd(n: *mut graft_node) -> c_int;
    pub fn graft_node_next_event(n: *mut graft_node, ev: *mut graft_event) -> c_int;

    pub fn graft_generate_certs(dir: *const c_char, node_ids: *const *const c_char, n: usize) -> c_int;
    pub fn graft_generate_cluster_certs(
        dir: *const c_char,
        cluster: *const c_char,
        node_ids: *const *const c_char,
        n: usize,
    ) -> c_int;
    pub fn graft_strerror(code: c_int) -> *const c_char;
    pub fn graft_version() -> *const c_char;
    pub fn graft_version_number() -> c_int;
}

/// `struct timespec` of 64-bit Linux (time_t and long are both 64 bits).
#[repr(C)]
pub struct timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// `CLOCK_MONOTONIC` on Linux: the clock of `graft_node_lease` deadlines.
pub const CLOCK_MONOTONIC: c_int = 1;

/// `struct pollfd` of Linux.
#[repr(C)]
pub struct pollfd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

/// `POLLIN`: there is data to read.
pub const POLLIN: i16 = 1;

extern "C" {
    /// From libc (always linked by std).
    pub fn clock_gettime(clock: c_int, tp: *mut timespec) -> c_int;
    /// From libc: wait for one of `nfds` descriptors, `timeout` ms (-1: no limit).
    pub fn poll(fds: *mut pollfd, nfds: u64, timeout: c_int) -> c_int;
}
