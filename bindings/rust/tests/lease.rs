//! Leadership a program can act on (issue 13): `on_lease`, `wait_lease`,
//! `next_event` with the descriptor (`AsRawFd`, poll(2)), the blocking
//! `events()` iterator, and ids taken as `&str`, `String` or `&&str`.

mod common;

use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use graft::{monotonic_ns, Event, Lease, Node, State};

const T: Duration = Duration::from_secs(10);

/// The callbacks of one node as Events, in the order they ran, with when.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<(Event, u64)>>>);

impl Journal {
    fn push(&self, e: Event) {
        self.0.lock().unwrap().push((e, monotonic_ns()));
    }
    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().iter().map(|(e, _)| e.clone()).collect()
    }
    fn find(&self, f: impl Fn(&Event) -> bool) -> Option<(Event, u64)> {
        self.0.lock().unwrap().iter().find(|(e, _)| f(e)).cloned()
    }
    fn hook(&self, b: graft::Builder) -> graft::Builder {
        let (j1, j2, j3) = (self.clone(), self.clone(), self.clone());
        b.on_state_change(move |from, to, term| j1.push(Event::StateChanged { from, to, term }))
            .on_leader_change(move |l, term| j2.push(Event::LeaderChanged { leader: l.map(str::to_owned), term }))
            .on_lease(move |held, lease| {
                j3.push(if held { Event::LeaseAcquired(lease) } else { Event::LeaseLost(lease) })
            })
    }
}

/// poll(2) on fd for up to ms milliseconds: whether it is readable.
fn readable(fd: i32, ms: i32) -> bool {
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    extern "C" {
        fn poll(fds: *mut PollFd, n: u64, timeout: i32) -> i32;
    }
    let mut p = PollFd { fd, events: 1, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { poll(&mut p, 1, ms) == 1 && p.revents & 1 != 0 }
}

fn drain(n: &Node) -> Vec<Event> {
    std::iter::from_fn(|| n.next_event().unwrap()).collect()
}

/// Every loss follows exactly one acquisition of the same term, none left open.
fn check_pairs(evs: &[Event]) {
    let mut holding: Option<Lease> = None;
    for e in evs {
        match e {
            Event::LeaseAcquired(l) => {
                assert!(holding.is_none(), "{evs:?}");
                holding = Some(*l);
            }
            Event::LeaseLost(l) => {
                let h = holding.take().expect("a loss without acquisition");
                assert!(l.term == h.term && l.deadline_ns >= h.deadline_ns, "{evs:?}");
            }
            _ => {}
        }
    }
    assert!(holding.is_none(), "a lease without its loss: {evs:?}");
}

#[test]
fn ids_as_str_string_and_ref_ref_str() {
    let c = Cluster::new("asref", 3);
    let ids: [&str; 3] = ["n1", "n2", "n3"];
    let mut b = Node::builder(String::from("test"), &ids[0], &c.addrs[0]);
    for (id, addr) in ids.iter().zip(&c.addrs).skip(1) {
        b = b.peer(id, addr); // &&str and &String
    }
    let certs = c.dir.path().join("certs");
    let node = b
        .state_path(c.dir.path().join("n1.graft"))
        .tls(certs.join("n1.pem"), certs.join("n1-key.pem"), certs.join("ca.pem"))
        .start()
        .unwrap();
    assert_eq!(node.id(), "n1");
}

#[test]
fn lease_callbacks_events_and_wait_agree() {
    let c = Cluster::new("lease", 3);
    let journals: Vec<Journal> = (0..3).map(|_| Journal::default()).collect();
    let nodes: Vec<Node> = (0..3).map(|i| journals[i].hook(c.builder(i)).start().unwrap()).collect();
    for n in &nodes {
        assert!(n.as_raw_fd() >= 0); // the queue is on well before an election
        assert_eq!(n.as_raw_fd(), n.event_fd().unwrap());
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    let l = wait_for_leader(&refs, T);
    let lease = nodes[l].wait_lease(Some(T)).unwrap().expect("the leader's lease");
    let woke = graft::monotonic_ns();
    assert!(lease.holds() && lease.term == nodes[l].term());
    assert_eq!(nodes[l].wait_lease(Some(Duration::ZERO)).unwrap().map(|x| x.term), Some(lease.term));
    let j = &journals[l];
    wait_until("the acquired callback", T, || j.find(|e| matches!(e, Event::LeaseAcquired(_))).is_some());
    assert!(readable(nodes[l].as_raw_fd(), 1000));
    let stamped: Vec<graft::StampedEvent> = std::iter::from_fn(|| nodes[l].next_stamped_event().unwrap()).collect();
    let read = graft::monotonic_ns();
    // at_ns: when the core emitted each event, in order, before it was read;
    // the lease was acquired before wait_lease returned.
    let ats: Vec<u64> = stamped.iter().map(|s| s.at_ns).collect();
    assert!(ats.iter().all(|&a| a > 0 && a <= read), "{ats:?}, read at {read}");
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "{ats:?}");
    let acq = stamped.iter().find(|s| matches!(s.event, Event::LeaseAcquired(_))).expect("acquired queued");
    assert!(acq.at_ns <= woke, "acquired at {} after wait_lease returned at {woke}", acq.at_ns);
    let queued: Vec<Event> = stamped.into_iter().map(|s| s.event).collect();
    assert!(!readable(nodes[l].as_raw_fd(), 0), "readable with nothing queued");
    assert_eq!(queued, j.events(), "the queue and the callbacks carry one sequence");
    assert!(queued.iter().any(|e| matches!(e, Event::LeaseAcquired(x) if x.term == lease.term)));

    // A follower waits in vain; the timeout is honoured.
    let f = (l + 1) % 3;
    let t0 = Instant::now();
    assert_eq!(nodes[f].wait_lease(Some(Duration::from_millis(100))).unwrap(), None);
    assert!(t0.elapsed() >= Duration::from_millis(100) && t0.elapsed() < Duration::from_secs(2));

    // Step-down: the loss, then the change of state; the successor acquires.
    nodes[l].step_down().unwrap();
    let mut after = Vec::new();
    wait_until("the step-down's events", T, || {
        after.extend(drain(&nodes[l]));
        after.iter().any(|e| matches!(e, Event::StateChanged { .. }))
    });
    assert!(matches!(after[0], Event::LeaseLost(x) if x.term == lease.term), "{after:?}");
    assert!(matches!(after[1], Event::StateChanged { from: State::Leader, to: State::Follower, .. }), "{after:?}");
    let l2 = wait_for_leader(&refs, T);
    assert_ne!(l2, l);
    let lease2 = nodes[l2].wait_lease(Some(T)).unwrap().unwrap();
    assert!(lease2.term > lease.term);
    drop(refs);
    let all: Vec<Journal> = journals.clone();
    for n in nodes {
        n.close().unwrap();
    }
    for j in all {
        check_pairs(&j.events());
    }
}

#[test]
fn loss_at_the_deadline_and_the_blocking_iterator() {
    let c = Cluster::new("deadline", 3);
    let j = Journal::default();
    let mut nodes: Vec<Option<Node>> = (0..3).map(|i| Some(j.hook(c.builder(i)).start().unwrap())).collect();
    let refs: Vec<&Node> = nodes.iter().map(|n| n.as_ref().unwrap()).collect();
    let l = wait_for_leader(&refs, T);
    drop(refs);
    let leader = nodes[l].take().unwrap();
    let lease = leader.wait_lease(Some(T)).unwrap().unwrap();
    drain(&leader); // history: from here on, what the iterator sees
    for n in nodes.iter_mut() {
        if let Some(n) = n.take() {
            n.close().unwrap(); // the leader is cut off: its lease runs out
        }
    }
    let mut events = leader.events();
    let lost = loop {
        match events.next().unwrap().unwrap() {
            Event::LeaseLost(x) => break x,
            Event::LeaseAcquired(_) => panic!("acquired again while cut off"),
            _ => {}
        }
    };
    let late = monotonic_ns().saturating_sub(lost.deadline_ns);
    println!("the loss reached the iterator {} us after the deadline", late / 1000);
    assert!(lost.term == lease.term && lost.deadline_ns >= lease.deadline_ns);
    assert!(monotonic_ns() >= lost.deadline_ns, "reported before its deadline");
    assert!(late < 500_000_000, "{late} ns late");
    assert!(leader.lease().is_none());
    leader.close().unwrap();
}

#[test]
fn a_panicking_lease_callback_is_caught() {
    let c = Cluster::new("leasepanic", 1);
    let node = c.builder(0).on_lease(|_, _| panic!("boom in on_lease")).start().unwrap();
    assert!(node.wait_lease(Some(T)).unwrap().is_some());
    wait_until("the panic counted", T, || node.callback_panics() >= 1);
    assert!(node.is_leader());
}
