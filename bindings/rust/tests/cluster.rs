//! A 3-node cluster in one process over QUIC on loopback: election,
//! agreement, callbacks, handover by step-down and by close, vote hooks,
//! a panicking callback, and a node shared by several threads.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use graft::{ErrorKind, LogLevel, Node, State};

const T: Duration = Duration::from_secs(10);

#[test]
fn three_nodes_elect_one_leader() {
    let c = Cluster::new("elect", 3);
    let events = Arc::new(Mutex::new(Vec::new()));
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            let (e1, e2) = (events.clone(), events.clone());
            c.builder(i)
                .on_state_change(move |from, to, term| {
                    e1.lock().unwrap().push(format!("n{} {from}->{to} t{term}", i + 1))
                })
                .on_leader_change(move |l, term| e2.lock().unwrap().push(format!("n{} leader={l:?} t{term}", i + 1)))
                .start()
                .unwrap()
        })
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    // The agreement checked as one snapshot, retried until it holds: on a
    // starved machine a lease may lapse, or a leader step down, between
    // two reads, and the cluster then elects again.
    let mut l = 0;
    wait_until("one leader holding its lease, the others following at its term", T, || {
        l = wait_for_leader(&refs, T);
        let term = nodes[l].term();
        let Some(lease) = nodes[l].lease() else { return false };
        term >= 1
            && nodes[l].state() == State::Leader
            && lease.term == term
            && lease.remaining() > Duration::ZERO
            && lease.remaining() <= EMIN
            && nodes
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != l)
                .all(|(_, n)| n.state() == State::Follower && n.lease().is_none() && !n.is_leader() && n.term() == term)
    });
    let term = nodes[l].term();
    for (i, n) in nodes.iter().enumerate() {
        if i != l {
            assert_eq!(n.step_down().unwrap_err().kind(), ErrorKind::NotLeader);
        }
    }
    let lid = nodes[l].id().to_string();
    wait_until("every node heard of the leader by callback", T, || {
        let ev = events.lock().unwrap();
        (1..=3).all(|i| ev.iter().any(|e| e.starts_with(&format!("n{i} leader=Some(\"{lid}\")"))))
    });
    let seen = events.lock().unwrap().clone();
    assert!(
        seen.iter().any(|e| e.starts_with(&format!("{lid} candidate->leader"))),
        "no {lid} candidate->leader among the callbacks: {seen:?}"
    );
    let s = nodes[l].stats();
    assert_eq!(s.state, State::Leader);
    assert_eq!(s.leader.as_deref(), Some(lid.as_str()));
    assert!(s.elections_won >= 1 && s.net_msgs_sent > 0);
    assert!(s.msgs_sent[graft::MsgKind::Heartbeat as usize] > 0);
    for n in nodes {
        n.close().unwrap();
    }
    let ev = events.lock().unwrap();
    for i in 1..=3 {
        assert!(ev.iter().any(|e| e.starts_with(&format!("n{i} ")) && e.contains("->closed")), "n{i} reported closed");
    }
    println!("checked: one leader ({lid}, term {term}) agreed by all; followers refuse step_down; closed reported");
}

#[test]
fn step_down_hands_over() {
    let c = Cluster::new("stepdown", 3);
    let nodes = c.start_all();
    let refs: Vec<&Node> = nodes.iter().collect();
    let l = wait_for_leader(&refs, T);
    let term = nodes[l].term();
    nodes[l].step_down().unwrap();
    assert!(!nodes[l].is_leader(), "the lease ends before step_down returns");
    let start = std::time::Instant::now();
    let l2 = wait_for_leader(&refs, T);
    let took = start.elapsed();
    assert_ne!(l2, l, "another node took over");
    assert!(nodes[l2].term() > term);
    println!(
        "checked: {} handed over to {} in {took:?} (term {} -> {})",
        nodes[l].id(),
        nodes[l2].id(),
        term,
        nodes[l2].term()
    );
}

#[test]
fn closing_the_leader_hands_over_and_peers_keep_working() {
    let c = Cluster::new("closeleader", 3);
    let mut nodes: Vec<Option<Node>> = c.start_all().into_iter().map(Some).collect();
    let refs: Vec<&Node> = nodes.iter().map(|n| n.as_ref().unwrap()).collect();
    let l = wait_for_leader(&refs, T);
    let term = refs[l].term();
    nodes[l].take().unwrap().close().unwrap();
    let rest: Vec<&Node> = nodes.iter().flatten().collect();
    let l2 = wait_for_leader(&rest, T);
    assert!(rest[l2].term() > term);
    // Calls on the survivors after a peer closed behave normally.
    let f = 1 - l2;
    assert_eq!(rest[f].step_down().unwrap_err().kind(), ErrorKind::NotLeader);
    assert_eq!(rest[f].leader().as_deref(), Some(rest[l2].id()));
    rest[l2].step_down().unwrap_or_else(|e| assert_eq!(e.kind(), ErrorKind::NoPeer));
    let s = rest[f].stats();
    assert!(s.net_msgs_received > 0);
    println!(
        "checked: leader closed gracefully, {} leads at term {}; survivors answer normally",
        rest[l2].id(),
        rest[l2].term()
    );
}

#[test]
fn node_shared_by_threads() {
    const THREADS: usize = 6;
    let c = Cluster::new("threads", 3);
    let nodes: Vec<Arc<Node>> = c.start_all().into_iter().map(Arc::new).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let (n, stop, calls) = (nodes[t % 3].clone(), stop.clone(), calls.clone());
        handles.push(std::thread::spawn(move || {
            let mut last_term = 0;
            while !stop.load(Ordering::Relaxed) {
                let term = n.term();
                assert!(term >= last_term, "the term never goes down");
                last_term = term;
                let _ = (n.state(), n.leader(), n.is_leader(), n.lease(), n.stats());
                calls.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let refs: Vec<&Node> = nodes.iter().map(|n| &**n).collect();
    let l = wait_for_leader(&refs, T);
    // A handover while the readers run.
    nodes[l].step_down().unwrap();
    wait_until("a new leader", T, || (0..3).any(|i| i != l && nodes[i].is_leader()));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let total = calls.load(Ordering::Relaxed);
    assert!(total > 100);
    for n in nodes {
        Arc::try_unwrap(n).unwrap().close().unwrap();
    }
    println!("checked: 6 threads made {total} query rounds on shared nodes across a handover");
}

#[test]
fn panicking_callback_is_caught_and_node_keeps_working() {
    let c = Cluster::new("panic", 3);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            let errs = errors.clone();
            c.builder(i)
                .on_state_change(|_, to, _| {
                    if to == State::Leader {
                        panic!("deliberate panic in on_state_change");
                    }
                })
                .on_leader_change(|_, _| panic!("deliberate panic in on_leader_change"))
                .on_error(move |e| errs.lock().unwrap().push((e.kind(), e.to_string())))
                .start()
                .unwrap()
        })
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    let l = wait_for_leader(&refs, T);
    wait_until("panics counted", T, || nodes[l].callback_panics() >= 2);
    // Still working: a handover and a new leader.
    nodes[l].step_down().unwrap();
    let l2 = wait_for_leader(&refs, T);
    assert_ne!(l2, l);
    assert!(nodes[l2].stats().callback_panics >= 1);
    let errs = errors.lock().unwrap().clone();
    assert!(errs.iter().any(|(k, m)| *k == ErrorKind::Internal && m.contains("deliberate panic")), "{errs:?}");
    let total: u64 = nodes.iter().map(|n| n.callback_panics()).sum();
    for n in nodes {
        n.close().unwrap();
    }
    println!("checked: {total} callback panics caught and reported to on_error; handover still worked");
}

#[test]
fn close_from_own_callback_is_busy_then_completes() {
    let c = Cluster::new("busy", 1);
    let slot: Arc<Mutex<Option<Node>>> = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    let (s2, tx2) = (slot.clone(), Mutex::new(tx));
    let node = c
        .builder(0)
        .on_state_change(move |_, to, _| {
            let tx = tx2.lock().unwrap().clone();
            if to == State::Leader {
                // Wait until the test put the node in the slot.
                let node = loop {
                    if let Some(n) = s2.lock().unwrap().take() {
                        break n;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                };
                tx.send(format!("close: {:?}", node.close().map_err(|e| e.kind()))).unwrap();
            } else if to == State::Closed {
                tx.send("closed".to_string()).unwrap();
            }
        })
        .start()
        .unwrap();
    *slot.lock().unwrap() = Some(node);
    assert_eq!(rx.recv_timeout(T).unwrap(), "close: Err(Busy)");
    assert_eq!(rx.recv_timeout(T).unwrap(), "closed", "the deferred close completed");
    println!("checked: close inside its own callback returns Busy and completes once the callback returned");
}

#[test]
fn vote_hooks_decide_who_can_lead() {
    // Only n2 reports position "ok", and every node grants only to "ok": n2 must lead.
    let c = Cluster::new("hooks", 3);
    let grants = Arc::new(AtomicU64::new(0));
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            let g = grants.clone();
            c.builder(i)
                .vote_hooks(
                    move || if i == 1 { b"ok".to_vec() } else { b"behind".to_vec() },
                    move |pos| {
                        g.fetch_add(1, Ordering::Relaxed);
                        pos == b"ok"
                    },
                )
                .start()
                .unwrap()
        })
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    let l = wait_for_leader(&refs, T);
    assert_eq!(nodes[l].id(), "n2");
    assert!(grants.load(Ordering::Relaxed) > 0);
    println!("checked: the grant hook ({} calls) let only the up-to-date node lead", grants.load(Ordering::Relaxed));
}

/// Threads polling `state()`/`is_leader()` in tight loops (no pause), three
/// per core, must not starve the election: each C-to-Go call holds one of the
/// Go runtime's processors, so the library keeps spare ones (GOMAXPROCS =
/// CPUs + 16, graft.h "THREADS"). With Go's default (one per core) this
/// cluster elected nobody for 10 s.
#[test]
fn tight_query_loops_do_not_starve_the_election() {
    let c = Cluster::new("starve", 3);
    let nodes: Vec<Arc<Node>> = c.start_all().into_iter().map(Arc::new).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) * 3;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (n, stop) = (nodes[t % 3].clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = (n.state(), n.is_leader());
                }
            })
        })
        .collect();
    let refs: Vec<&Node> = nodes.iter().map(|n| &**n).collect();
    let start = std::time::Instant::now();
    let elected = std::panic::catch_unwind(|| wait_for_leader(&refs, T)).is_ok();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    assert!(elected, "{threads} spinning query threads starved the election");
    println!("checked: {threads} spinning query threads: leader elected after {:?}", start.elapsed());
}

#[test]
fn log_level_filters_in_the_library() {
    // Lines below the level never reach the closure (nor get formatted);
    // the default is Info.
    let c = Cluster::new("loglevel", 3);
    let levels: Vec<Arc<Mutex<Vec<LogLevel>>>> = (0..3).map(|_| Arc::default()).collect();
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            let seen = levels[i].clone();
            let b = c.builder(i).on_log(move |level, _| seen.lock().unwrap().push(level));
            if i == 0 { b.log_level(LogLevel::Debug) } else { b }.start().unwrap()
        })
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    let l = wait_for_leader(&refs, T);
    nodes[l].step_down().unwrap();
    wait_until("a new leader", T, || (0..3).any(|i| i != l && nodes[i].is_leader()));
    wait_until("debug lines on n1", T, || levels[0].lock().unwrap().contains(&LogLevel::Debug));
    for n in nodes {
        n.close().unwrap();
    }
    for seen in &levels[1..] {
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty() && !seen.contains(&LogLevel::Debug), "{seen:?}");
    }
    println!("checked: log_level(Debug) adds debug lines; the default (Info) has none");
}
