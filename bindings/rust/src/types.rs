//! The plain value types: [`State`], [`LogLevel`], [`MsgKind`], [`Lease`], [`Stats`].

use std::ffi::{c_char, c_int, CStr};
use std::fmt;
use std::time::{Duration, Instant};

use crate::ffi;

/// The role a node plays (`graft_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Follows a leader, or waits for one; votes.
    Follower,
    /// Raised its term and asks for votes.
    Candidate,
    /// Elected for its term; acts only while the lease holds
    /// (see [`Node::is_leader`](crate::Node::is_leader)).
    Leader,
    /// Closed (final). Also what a value unknown to this binding maps to.
    Closed,
}

impl State {
    pub(crate) fn from_raw(v: c_int) -> State {
        match v {
            ffi::GRAFT_FOLLOWER => State::Follower,
            ffi::GRAFT_CANDIDATE => State::Candidate,
            ffi::GRAFT_LEADER => State::Leader,
            _ => State::Closed,
        }
    }

    /// The lower-case name: "follower", "candidate", "leader", "closed".
    pub fn as_str(self) -> &'static str {
        match self {
            State::Follower => "follower",
            State::Candidate => "candidate",
            State::Leader => "leader",
            State::Closed => "closed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of a log line given to [`Builder::on_log`](crate::Builder::on_log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal events ("node n2 became leader at term 7").
    Info,
    /// Something unusual the node copes with.
    Warn,
    /// Something that needs attention.
    Error,
}

impl LogLevel {
    pub(crate) fn to_raw(self) -> c_int {
        match self {
            LogLevel::Debug => ffi::GRAFT_LOG_DEBUG,
            LogLevel::Info => ffi::GRAFT_LOG_INFO,
            LogLevel::Warn => ffi::GRAFT_LOG_WARN,
            LogLevel::Error => ffi::GRAFT_LOG_ERROR,
        }
    }

    pub(crate) fn from_raw(v: c_int) -> LogLevel {
        match v {
            ffi::GRAFT_LOG_DEBUG => LogLevel::Debug,
            ffi::GRAFT_LOG_INFO => LogLevel::Info,
            ffi::GRAFT_LOG_WARN => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }
}

/// The election's message kinds: `Stats::msgs_sent[MsgKind::Vote as usize]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MsgKind {
    /// A pre-vote request (Raft thesis 9.6).
    PreVote = 0,
    /// The answer to a pre-vote.
    PreVoteResp = 1,
    /// A vote request.
    Vote = 2,
    /// The answer to a vote request.
    VoteResp = 3,
    /// A leader's heartbeat.
    Heartbeat = 4,
    /// The answer to a heartbeat.
    HeartbeatResp = 5,
    /// Leadership transfer: "campaign now".
    TimeoutNow = 6,
}

/// Slots of the per-kind arrays in [`Stats`] (unused slots are 0).
pub const MSG_KIND_SLOTS: usize = ffi::GRAFT_MSG_KIND_SLOTS;

/// Now, on `CLOCK_MONOTONIC`, in nanoseconds: the clock of
/// [`Lease::deadline_ns`].
pub fn monotonic_ns() -> u64 {
    let mut ts = ffi::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid `ts`;
    // CLOCK_MONOTONIC always exists on Linux, so it cannot fail.
    unsafe { ffi::clock_gettime(ffi::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// A leader's lease, from [`Node::lease`](crate::Node::lease): the term (the
/// fencing token to carry to a guarded resource) and the instant by which
/// the leader must stop acting. Call `lease()` again for a later deadline:
/// heartbeats renew it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The term: the fencing token. It only grows.
    pub term: u64,
    /// The deadline on `CLOCK_MONOTONIC`, in nanoseconds (compare with
    /// [`monotonic_ns`]).
    pub deadline_ns: u64,
}

impl Lease {
    /// Time left before the deadline, measured now; zero once it passed.
    pub fn remaining(&self) -> Duration {
        Duration::from_nanos(self.deadline_ns.saturating_sub(monotonic_ns()))
    }

    /// True while the deadline has not passed.
    pub fn holds(&self) -> bool {
        monotonic_ns() < self.deadline_ns
    }

    /// The deadline as an `Instant`, computed now (`Instant::now()` plus
    /// [`remaining`](Lease::remaining); both read the same clock on Linux).
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.remaining()
    }
}

/// A node's counters, from [`Node::stats`](crate::Node::stats). Counters only
/// grow; `callbacks_queued`, `since_leader_contact` and `callback_delay_last`
/// are gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The state when the counters were read.
    pub state: State,
    /// The current term (the fencing token).
    pub term: u64,
    /// The known leader, `None` when none.
    pub leader: Option<String>,
    /// Pre-vote rounds begun.
    pub prevotes_started: u64,
    /// Pre-vote rounds a majority refused.
    pub prevotes_lost: u64,
    /// Real elections begun (the term raised).
    pub elections_started: u64,
    /// Elections won.
    pub elections_won: u64,
    /// Times a new (leader, term) became known.
    pub leader_changes: u64,
    /// Leaderships ended by check-quorum.
    pub step_downs: u64,
    /// Leaderships handed over (step_down, close).
    pub transfers: u64,
    /// Failed saves of the term and vote.
    pub storage_errors: u64,
    /// Gauge: callbacks waiting to run (at most 256).
    pub callbacks_queued: u64,
    /// Time since a leader was last heard from: zero on the leader, `None`
    /// if never.
    pub since_leader_contact: Option<Duration>,
    /// Election messages handed to the transport, by [`MsgKind`].
    pub msgs_sent: [u64; MSG_KIND_SLOTS],
    /// Election messages received and accepted, by [`MsgKind`].
    pub msgs_received: [u64; MSG_KIND_SLOTS],
    /// Election messages dropped (refused by the transport, inbox full,
    /// invalid), by [`MsgKind`].
    pub msgs_dropped: [u64; MSG_KIND_SLOTS],
    /// Messages handed to QUIC.
    pub net_msgs_sent: u64,
    /// Bytes handed to QUIC.
    pub net_bytes_sent: u64,
    /// Messages delivered to the election.
    pub net_msgs_received: u64,
    /// Bytes delivered to the election.
    pub net_bytes_received: u64,
    /// Connections re-established to a peer.
    pub net_reconnects: u64,
    /// Inbound drops: not a well-formed message.
    pub drop_malformed: u64,
    /// Inbound drops: names another cluster.
    pub drop_wrong_cluster: u64,
    /// Inbound drops: unknown wire version.
    pub drop_bad_version: u64,
    /// Inbound drops: larger than the size limit.
    pub drop_oversized: u64,
    /// Inbound drops: sender differs from its certificate.
    pub drop_spoofed_sender: u64,
    /// Inbound drops: valid certificate, id not a peer.
    pub drop_unknown_peer: u64,
    /// TLS handshakes that failed (other CA, no certificate).
    pub drop_handshake_failed: u64,
    /// Outbound drops: the queue to a peer was full.
    pub drop_queue_full: u64,
    /// UDP datagrams that were no QUIC packet.
    pub drop_invalid_packet: u64,
    /// Gauge: how late the callback running now (or, between callbacks, the
    /// last one run) started, from the moment the library queued it right
    /// after the election event; a closure that calls [`Node::stats`](crate::Node::stats)
    /// reads its own. A slow callback delays the ones after it and shows
    /// here. Zero before the first callback.
    pub callback_delay_last: Duration,
    /// The largest `callback_delay_last` so far.
    pub callback_delay_max: Duration,
    /// Callbacks never run: coalesced away when the node's queue (at most
    /// 256) was full, a slow consumer being told the latest state and
    /// leader and the lease events still paired, or still queued when the
    /// node was closed (a close runs no backlog).
    pub callbacks_dropped: u64,
    /// Gauge: this follower's place in the succession as its leader last
    /// told it (1 campaigns first when the leader goes silent); 0 when none
    /// is known (no leader, a leader of an older term), on a leader and on a
    /// witness. See [`Builder::priority`](crate::Builder::priority).
    pub rank: u32,
    /// Gauge: on a leader, the follower it ranks first; `None` when none can
    /// lead, and on the other nodes.
    pub successor: Option<String>,
    /// Handovers this node made, as leader, to a follower of higher
    /// priority.
    pub priority_takeovers: u64,
    /// Panics caught in this node's callbacks (counted by the binding).
    pub callback_panics: u64,
}

impl Stats {
    pub(crate) fn from_raw(s: &ffi::graft_stats, callback_panics: u64) -> Stats {
        Stats {
            state: State::from_raw(s.state),
            term: s.term,
            leader: id_field(&s.leader),
            prevotes_started: s.prevotes_started,
            prevotes_lost: s.prevotes_lost,
            elections_started: s.elections_started,
            elections_won: s.elections_won,
            leader_changes: s.leader_changes,
            step_downs: s.step_downs,
            transfers: s.transfers,
            storage_errors: s.storage_errors,
            callbacks_queued: s.callbacks_queued,
            since_leader_contact: u64::try_from(s.since_leader_contact_ns).ok().map(Duration::from_nanos),
            msgs_sent: s.msgs_sent,
            msgs_received: s.msgs_received,
            msgs_dropped: s.msgs_dropped,
            net_msgs_sent: s.net_msgs_sent,
            net_bytes_sent: s.net_bytes_sent,
            net_msgs_received: s.net_msgs_received,
            net_bytes_received: s.net_bytes_received,
            net_reconnects: s.net_reconnects,
            drop_malformed: s.drop_malformed,
            drop_wrong_cluster: s.drop_wrong_cluster,
            drop_bad_version: s.drop_bad_version,
            drop_oversized: s.drop_oversized,
            drop_spoofed_sender: s.drop_spoofed_sender,
            drop_unknown_peer: s.drop_unknown_peer,
            drop_handshake_failed: s.drop_handshake_failed,
            drop_queue_full: s.drop_queue_full,
            drop_invalid_packet: s.drop_invalid_packet,
            callback_delay_last: Duration::from_nanos(s.callback_delay_last_ns),
            callback_delay_max: Duration::from_nanos(s.callback_delay_max_ns),
            callbacks_dropped: s.callbacks_dropped,
            rank: s.rank,
            successor: id_field(&s.successor),
            priority_takeovers: s.priority_takeovers,
            callback_panics,
        }
    }
}

/// A node id from a `char[GRAFT_ID_MAX]` field: `None` when empty.
fn id_field(field: &[c_char; ffi::GRAFT_ID_MAX]) -> Option<String> {
    // SAFETY: `field` is an initialized [c_char; N]; c_char and u8 have the
    // same size and alignment, so it reads as N bytes. A missing NUL gives
    // "" (from_bytes_until_nul fails), never an overread.
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(field.as_ptr().cast::<u8>(), field.len()) };
    let id = CStr::from_bytes_until_nul(bytes).map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
    if id.is_empty() {
        None
    } else {
        Some(id)
    }
}
