//! Unit tests: the `ffi` module against the C header, error mapping, and a
//! smoke test of one node.

use std::mem::{align_of, offset_of, size_of};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;

mod header {
    include!(concat!(env!("OUT_DIR"), "/header_facts.rs"));
}

fn fact(name: &str) -> i64 {
    let facts = header::FACTS.expect("measured");
    facts.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no fact {name}")).1
}

macro_rules! offsets {
    ($($f:ident),* $(,)?) => {
        [$( (stringify!($f), offset_of!(ffi::graft_stats, $f)) ),*]
    };
}

#[test]
fn ffi_matches_header() {
    if header::FACTS.is_none() {
        eprintln!("skipped: build.rs could not compile the header probe (no C compiler)");
        return;
    }
    assert_eq!(fact("sizeof") as usize, size_of::<ffi::graft_stats>(), "sizeof(graft_stats)");
    assert_eq!(fact("alignof") as usize, align_of::<ffi::graft_stats>(), "alignof(graft_stats)");
    let offs = offsets!(
        size,
        state,
        reserved0,
        term,
        leader,
        prevotes_started,
        prevotes_lost,
        elections_started,
        elections_won,
        leader_changes,
        step_downs,
        transfers,
        storage_errors,
        callbacks_queued,
        since_leader_contact_ns,
        msgs_sent,
        msgs_received,
        msgs_dropped,
        net_msgs_sent,
        net_bytes_sent,
        net_msgs_received,
        net_bytes_received,
        net_reconnects,
        drop_malformed,
        drop_wrong_cluster,
        drop_bad_version,
        drop_oversized,
        drop_spoofed_sender,
        drop_unknown_peer,
        drop_handshake_failed,
        drop_queue_full,
        drop_invalid_packet,
        callback_delay_last_ns,
        callback_delay_max_ns,
        callbacks_dropped,
        rank,
        reserved1,
        priority_takeovers,
        successor,
    );
    let measured = header::FACTS.unwrap().iter().filter(|(n, _)| n.starts_with("offset.")).count();
    assert_eq!(measured, offs.len(), "every field of graft_stats is checked");
    for (name, off) in offs {
        assert_eq!(fact(&format!("offset.{name}")) as usize, off, "offsetof(graft_stats, {name})");
    }
    assert_eq!(fact("event_sizeof") as usize, size_of::<ffi::graft_event>(), "sizeof(graft_event)");
    assert_eq!(fact("event_alignof") as usize, align_of::<ffi::graft_event>(), "alignof(graft_event)");
    let event_offs = [
        ("size", offset_of!(ffi::graft_event, size)),
        ("kind", offset_of!(ffi::graft_event, kind)),
        ("from", offset_of!(ffi::graft_event, from_)),
        ("to", offset_of!(ffi::graft_event, to)),
        ("term", offset_of!(ffi::graft_event, term)),
        ("deadline_ns", offset_of!(ffi::graft_event, deadline_ns)),
        ("leader", offset_of!(ffi::graft_event, leader)),
        ("at_ns", offset_of!(ffi::graft_event, at_ns)),
    ];
    let measured = header::FACTS.unwrap().iter().filter(|(n, _)| n.starts_with("event_offset.")).count();
    assert_eq!(measured, event_offs.len(), "every field of graft_event is checked");
    for (name, off) in event_offs {
        assert_eq!(fact(&format!("event_offset.{name}")) as usize, off, "offsetof(graft_event, {name})");
    }
    let consts: &[(&str, i64)] = &[
        ("GRAFT_OK", ffi::GRAFT_OK.into()),
        ("GRAFT_EINVAL", ffi::GRAFT_EINVAL.into()),
        ("GRAFT_ECLOSED", ffi::GRAFT_ECLOSED.into()),
        ("GRAFT_ESTORAGE", ffi::GRAFT_ESTORAGE.into()),
        ("GRAFT_ETLS", ffi::GRAFT_ETLS.into()),
        ("GRAFT_ENETWORK", ffi::GRAFT_ENETWORK.into()),
        ("GRAFT_ERANGE", ffi::GRAFT_ERANGE.into()),
        ("GRAFT_EBUSY", ffi::GRAFT_EBUSY.into()),
        ("GRAFT_ENOTLEADER", ffi::GRAFT_ENOTLEADER.into()),
        ("GRAFT_EFORK", ffi::GRAFT_EFORK.into()),
        ("GRAFT_EINTERNAL", ffi::GRAFT_EINTERNAL.into()),
        ("GRAFT_ENOPEER", ffi::GRAFT_ENOPEER.into()),
        ("GRAFT_EHOOK", ffi::GRAFT_EHOOK.into()),
        ("GRAFT_FOLLOWER", ffi::GRAFT_FOLLOWER.into()),
        ("GRAFT_CANDIDATE", ffi::GRAFT_CANDIDATE.into()),
        ("GRAFT_LEADER", ffi::GRAFT_LEADER.into()),
        ("GRAFT_CLOSED", ffi::GRAFT_CLOSED.into()),
        ("GRAFT_LOG_DEBUG", ffi::GRAFT_LOG_DEBUG.into()),
        ("GRAFT_LOG_INFO", ffi::GRAFT_LOG_INFO.into()),
        ("GRAFT_LOG_WARN", ffi::GRAFT_LOG_WARN.into()),
        ("GRAFT_LOG_ERROR", ffi::GRAFT_LOG_ERROR.into()),
        ("GRAFT_EVENT_STATE", ffi::GRAFT_EVENT_STATE.into()),
        ("GRAFT_EVENT_LEADER", ffi::GRAFT_EVENT_LEADER.into()),
        ("GRAFT_EVENT_LEASE_ACQUIRED", ffi::GRAFT_EVENT_LEASE_ACQUIRED.into()),
        ("GRAFT_EVENT_LEASE_LOST", ffi::GRAFT_EVENT_LEASE_LOST.into()),
        ("GRAFT_EVENT_OVERFLOW", ffi::GRAFT_EVENT_OVERFLOW.into()),
        ("GRAFT_MSG_PREVOTE", MsgKind::PreVote as i64),
        ("GRAFT_MSG_PREVOTE_RESP", MsgKind::PreVoteResp as i64),
        ("GRAFT_MSG_VOTE", MsgKind::Vote as i64),
        ("GRAFT_MSG_VOTE_RESP", MsgKind::VoteResp as i64),
        ("GRAFT_MSG_HEARTBEAT", MsgKind::Heartbeat as i64),
        ("GRAFT_MSG_HEARTBEAT_RESP", MsgKind::HeartbeatResp as i64),
        ("GRAFT_MSG_TIMEOUT_NOW", MsgKind::TimeoutNow as i64),
        ("GRAFT_MSG_KIND_SLOTS", ffi::GRAFT_MSG_KIND_SLOTS as i64),
        ("GRAFT_ID_MAX", ffi::GRAFT_ID_MAX as i64),
        ("GRAFT_POSITION_MAX", ffi::GRAFT_POSITION_MAX as i64),
        ("GRAFT_VERSION_MAJOR", ffi::GRAFT_VERSION_MAJOR.into()),
        ("GRAFT_VERSION_MINOR", ffi::GRAFT_VERSION_MINOR.into()),
        ("GRAFT_VERSION_PATCH", ffi::GRAFT_VERSION_PATCH.into()),
    ];
    for (name, v) in consts {
        assert_eq!(fact(name), *v, "{name}");
    }
    println!(
        "checked: sizes, alignments, {} offsets and {} constants against graft.h",
        offs.len() + event_offs.len(),
        consts.len()
    );
}

#[test]
fn every_code_has_a_kind_and_a_message() {
    for code in -11..=-1 {
        let e = Error::from_code(code);
        assert_ne!(e.kind(), ErrorKind::Unknown, "code {code}");
        assert_eq!(e.code(), code);
        assert_eq!(e.to_string(), e.message());
        assert!(!e.message().is_empty() && e.message() != "unknown error", "code {code}: {}", e.message());
    }
    assert_eq!(Error::from_code(-1000).kind(), ErrorKind::Unknown);
    let _: &dyn std::error::Error = &Error::from_code(-1);
}

#[test]
fn version_matches_header() {
    let want = format!("{}.{}.{}", ffi::GRAFT_VERSION_MAJOR, ffi::GRAFT_VERSION_MINOR, ffi::GRAFT_VERSION_PATCH);
    assert_eq!(version(), want);
    let number = ffi::GRAFT_VERSION_MAJOR * 1_000_000 + ffi::GRAFT_VERSION_MINOR * 1_000 + ffi::GRAFT_VERSION_PATCH;
    assert_eq!(version_number(), u32::from(number));
}

#[test]
fn state_names_and_unknown_values() {
    assert_eq!(State::from_raw(2), State::Leader);
    assert_eq!(State::from_raw(99), State::Closed);
    assert_eq!(State::Candidate.to_string(), "candidate");
    assert_eq!(LogLevel::from_raw(7), LogLevel::Error);
}

fn temp_dir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("graft-rs-unit-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One node alone is a majority of one: it elects itself.
fn solo(dir: &std::path::Path) -> Node {
    generate_certs(dir, &["solo"]).unwrap();
    Node::builder("unit", "solo", format!("127.0.0.1:{}", free_port()))
        .state_path(dir.join("solo.graft"))
        .tls(dir.join("solo.pem"), dir.join("solo-key.pem"), dir.join("ca.pem"))
        .timeouts(Duration::from_millis(20), Duration::from_millis(120), Duration::from_millis(180))
        .start()
        .unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn smoke_single_node_leads() {
    let dir = temp_dir("smoke");
    let node = solo(&dir);
    wait_until("a solo leader", Duration::from_secs(10), || node.is_leader());
    assert_eq!(node.state(), State::Leader);
    assert_eq!(node.leader().as_deref(), Some("solo"));
    let lease = node.lease().expect("a lease");
    assert!(lease.term >= 1 && lease.term == node.term());
    assert!(lease.holds() && lease.remaining() <= Duration::from_millis(180));
    assert!(lease.deadline() > Instant::now());
    node.close().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stats_size_field_round_trips() {
    let dir = temp_dir("stats");
    let node = solo(&dir);
    wait_until("a solo leader", Duration::from_secs(10), || node.is_leader());
    let mut raw = ffi::graft_stats::new();
    // SAFETY: a live node and a graft_stats with its size set.
    let rc = unsafe { ffi::graft_node_stats(node.raw_for_tests(), &mut raw) };
    assert_eq!(rc, 0);
    assert_eq!(raw.size, size_of::<ffi::graft_stats>(), "the library filled exactly our struct");
    // A shorter struct (an older header): the library fills no more than asked.
    let mut short = ffi::graft_stats::new();
    short.size = offset_of!(ffi::graft_stats, leader);
    short.prevotes_started = 0xdead;
    // SAFETY: as above; the library writes at most `size` bytes.
    assert_eq!(unsafe { ffi::graft_node_stats(node.raw_for_tests(), &mut short) }, 0);
    assert_eq!(short.size, offset_of!(ffi::graft_stats, leader));
    assert_eq!(short.prevotes_started, 0xdead, "bytes past size untouched");
    assert!(short.term >= 1);
    let s = node.stats();
    assert_eq!(s.state, State::Leader);
    assert_eq!(s.leader.as_deref(), Some("solo"));
    assert!(s.elections_won >= 1);
    assert_eq!(s.since_leader_contact, Some(Duration::ZERO));
    assert!(s.callback_delay_last <= s.callback_delay_max);
    assert!(s.callback_delay_max < Duration::from_secs(1), "{:?}", s.callback_delay_max);
    // A lone leader: no rank, no successor, nobody to hand over to.
    assert_eq!((s.rank, s.successor.as_deref(), s.priority_takeovers), (0, None, 0));
    assert_eq!(raw.reserved1, 0);
    node.close().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn millis_rounds_up_and_rejects_huge() {
    assert_eq!(node::millis_for_tests(Duration::from_micros(1)).unwrap(), 1);
    assert_eq!(node::millis_for_tests(Duration::from_millis(20)).unwrap(), 20);
    assert_eq!(node::millis_for_tests(Duration::ZERO).unwrap(), 0);
    let e = node::millis_for_tests(Duration::from_secs(u64::MAX / 2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

thread_local! {
    /// Set by a test on a callback thread: the deferred close started there
    /// finds no thread (node.rs, spawn_closer).
    pub(crate) static FAIL_SPAWN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sets its flag when dropped: shows when a Callbacks box is freed.
struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A close from the node's own callback finishes on a new thread. If none
/// can start, the callbacks were freed while that very callback ran
/// (`thread::spawn` panicked and dropped the closure owning the box). Now
/// the box is a raw pointer that only a completed close frees: without a
/// thread the node runs on and the box is leaked, never freed under a
/// running callback.
#[test]
fn close_from_callback_without_a_thread_keeps_the_callbacks() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{mpsc, Arc, Mutex};

    let dir = temp_dir("nothread");
    generate_certs(&dir, &["solo"]).unwrap();
    let freed = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(freed.clone());
    let slot: Arc<Mutex<Option<Node>>> = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    let (s2, f2, tx) = (slot.clone(), freed.clone(), Mutex::new(tx));
    let node = Node::builder("unit", "solo", format!("127.0.0.1:{}", free_port()))
        .state_path(dir.join("solo.graft"))
        .tls(dir.join("solo.pem"), dir.join("solo-key.pem"), dir.join("ca.pem"))
        .timeouts(Duration::from_millis(20), Duration::from_millis(120), Duration::from_millis(180))
        .on_state_change(move |_, to, _| {
            let _owned_by_the_box = &flag;
            if to != State::Leader {
                return;
            }
            let node = loop {
                if let Some(n) = s2.lock().unwrap().take() {
                    break n;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            FAIL_SPAWN.with(|f| f.set(true));
            let busy = matches!(node.close(), Err(e) if e.kind() == ErrorKind::Busy);
            FAIL_SPAWN.with(|f| f.set(false));
            tx.lock().unwrap().send((busy, f2.load(SeqCst))).unwrap();
        })
        .start()
        .unwrap();
    let raw = node.raw_for_tests() as usize;
    *slot.lock().unwrap() = Some(node);
    let (busy, freed_in_callback) = rx.recv_timeout(Duration::from_secs(10)).expect("the callback returned");
    assert!(busy, "close from the callback is Busy");
    assert!(!freed_in_callback, "the callbacks were freed under the running callback");
    // Nobody could finish the close: stop the node here (the box stays leaked).
    // SAFETY: the handle is live: the Busy close did nothing, and no thread ran the deferred one.
    assert_eq!(unsafe { ffi::graft_node_close(raw as *mut ffi::graft_node) }, ffi::GRAFT_OK);
    assert!(!freed.load(SeqCst), "a box nobody could free is leaked, not freed");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The signals of graft.h's SIGNALS rule whose handlers a host may replace
/// only with `SA_ONSTACK`, read from the sentence naming them.
fn onstack_signals(text: &str, start: &str) -> Vec<String> {
    // One line of prose: without comment markers and line breaks.
    let lines = text.lines().map(|l| l.trim().trim_start_matches("//!").trim_start_matches('*').trim());
    let text = lines.collect::<Vec<_>>().join(" ");
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?}"));
    let sentence = &text[from..from + text[from..].find("SA_ONSTACK").expect("SA_ONSTACK named")];
    let words = sentence.split(|c: char| !c.is_ascii_alphanumeric());
    words.filter(|w| w.starts_with("SIG") && w.len() > 3).map(str::to_owned).collect()
}

/// The crate docs carry graft.h's SIGNALS rule: a handler replaced without
/// SA_ONSTACK crashes the process (a 10 s ITIMER_PROF profiler did).
#[test]
fn crate_docs_carry_the_signals_rule() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../include/graft.h"));
    let Ok(header) = header else {
        eprintln!("skipped: include/graft.h is not beside the crate");
        return;
    };
    let docs = include_str!("lib.rs");
    let want = onstack_signals(&header, "If the host replaces a handler for");
    assert!(want.len() >= 6, "graft.h's rule names {want:?}");
    let got = onstack_signals(docs, "that replaces the handler of");
    assert_eq!(got, want, "lib.rs must name the signals of graft.h's SA_ONSTACK rule");
    assert!(docs.contains("must use `SA_ONSTACK`"));
}

#[test]
fn events_from_raw() {
    let mut e = ffi::graft_event::new();
    e.kind = ffi::GRAFT_EVENT_STATE;
    e.from_ = ffi::GRAFT_CANDIDATE;
    e.to = ffi::GRAFT_LEADER;
    e.term = 7;
    assert_eq!(Event::from_raw(&e), Event::StateChanged { from: State::Candidate, to: State::Leader, term: 7 });
    e.kind = ffi::GRAFT_EVENT_LEADER;
    assert_eq!(Event::from_raw(&e), Event::LeaderChanged { leader: None, term: 7 });
    e.leader[0] = b'n' as std::ffi::c_char;
    e.leader[1] = b'2' as std::ffi::c_char;
    assert_eq!(Event::from_raw(&e), Event::LeaderChanged { leader: Some("n2".into()), term: 7 });
    e.leader = [b'x' as std::ffi::c_char; ffi::GRAFT_ID_MAX]; // no NUL: read as none, never past the end
    assert_eq!(Event::from_raw(&e), Event::LeaderChanged { leader: None, term: 7 });
    e.kind = ffi::GRAFT_EVENT_LEASE_LOST;
    e.deadline_ns = 99;
    assert_eq!(Event::from_raw(&e), Event::LeaseLost(Lease { term: 7, deadline_ns: 99 }));
    e.kind = 42; // a kind of a newer library: re-read the state
    assert_eq!(Event::from_raw(&e), Event::Overflow { term: 7 });
    assert_eq!(Event::from_raw(&e).term(), 7);
}

#[test]
fn next_event_refuses_a_short_struct() {
    let dir = temp_dir("shortevent");
    let node = solo(&dir);
    let mut e = ffi::graft_event::new();
    e.size = (offset_of!(ffi::graft_event, leader) + ffi::GRAFT_ID_MAX - 1) as u32;
    // SAFETY: a live node; the library writes nothing for a short struct.
    assert_eq!(unsafe { ffi::graft_node_next_event(node.raw_for_tests(), &mut e) }, ffi::GRAFT_EINVAL);
    // SAFETY: a live node; NULL is refused.
    assert_eq!(unsafe { ffi::graft_node_next_event(node.raw_for_tests(), std::ptr::null_mut()) }, ffi::GRAFT_EINVAL);
    assert!(node.wait_lease(Some(Duration::from_secs(10))).unwrap().is_some());
    node.close().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
