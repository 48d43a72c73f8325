//! Issue 16 over QUIC on loopback: a witness (`priority(0)`) is never ranked
//! nor handed the leadership and alone never campaigns; a node of priority 2
//! that joins a running cluster ends up leading.

mod common;

use std::time::{Duration, Instant};

use common::*;
use graft::{Node, State};

const T: Duration = Duration::from_secs(10);

/// The index of the node that leads when every node names it, if any.
fn agreed(nodes: &[&Node]) -> Option<usize> {
    let leaders: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].is_leader()).collect();
    let [l] = leaders[..] else { return None };
    let id = nodes[l].id();
    nodes.iter().all(|n| n.leader().as_deref() == Some(id)).then_some(l)
}

#[test]
fn witness_is_never_ranked_and_priority_two_takes_over() {
    let c = Cluster::new("succession", 3);
    // n1 a witness, n2 of the default priority: n2 leads, with nobody to
    // rank (a witness is never a successor).
    let w = c.builder(0).priority(0).start().unwrap();
    let n2 = c.builder(1).start().unwrap();
    wait_until("n2 to lead", T, || agreed(&[&w, &n2]) == Some(1));
    assert_eq!(n2.stats().successor, None);
    assert_eq!(w.stats().rank, 0);

    // n3 of priority 2 joins: n2 hands over once n3 answered for the
    // stable period (5 x EMAX), and n3 ranks n2 first.
    let joined = Instant::now();
    let n3 = c.builder(2).priority(2).succession_delay(Duration::from_millis(5)).start().unwrap();
    let nodes = [&w, &n2, &n3];
    wait_until("n3 (priority 2) to lead", 3 * T, || agreed(&nodes) == Some(2));
    let took = joined.elapsed();
    let s2 = n2.stats();
    if s2.step_downs == 0 {
        // n2 stayed healthy (no lapse on a loaded machine): it handed over.
        assert!(s2.priority_takeovers >= 1, "{s2:?}");
        assert!(took >= 5 * EMAX, "n3 led {took:?} after it joined, before the stable period");
    }
    wait_until("n3 to rank n2 first", T, || n3.stats().successor.as_deref() == Some("n2") && n2.stats().rank == 1);
    assert_eq!(n3.stats().priority_takeovers, 0, "nobody outranks n3");

    // The data nodes gone, the witness is alone and never campaigns.
    n2.close().unwrap();
    n3.close().unwrap();
    wait_until("the witness alone for 4 election maxima", T, || {
        w.stats().since_leader_contact.is_some_and(|d| d > 4 * EMAX)
    });
    let s = w.stats();
    assert_eq!((s.state, s.prevotes_started, s.elections_started, s.rank), (State::Follower, 0, 0, 0), "{s:?}");
    println!("checked: n3 (priority 2) led {took:?} after it joined; the witness never ranked, never campaigned");
}
