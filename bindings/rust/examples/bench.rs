//! bench - what the Rust binding costs: ns per query call, and the latency
//! from an election event to the Rust closure running.
//!
//! Queries: state / is_leader / lease / term / leader / stats on a leading
//! single-node cluster, 9 runs of N calls each; the median run is reported
//! (the C figure, `make bench-c`, is the floor: one C-to-Go call).
//! Callback latency: in a 3-node cluster on loopback, the leader steps down;
//! the time from just before `step_down()` to its on_state_change closure
//! (leader -> follower) running on the library's thread; 200 handovers,
//! p50 and p99. Event -> callback latency proper: that closure calls
//! `Node::stats` and reads its own `callback_delay_last`, the time from the
//! library queueing it (right after the election produced the event) to
//! calling it.
//!
//! Run: `make bench-rust`, or from bindings/rust
//!   cargo run --offline --release --example bench

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use graft::{monotonic_ns, Node, State};

const RUNS: usize = 9;
const CALLS: u32 = 1_000_000;
const HANDOVERS: usize = 200;

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while !f() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    true
}

fn median_ns(calls: u32, mut f: impl FnMut()) -> f64 {
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs[RUNS / 2]
}

fn pct(v: &mut [u64], p: usize) -> f64 {
    v.sort_unstable();
    let i = ((v.len() * p).div_ceil(100)).saturating_sub(1);
    v[i] as f64 / 1e3
}

fn main() {
    let dir = std::env::temp_dir().join(format!("graft-rs-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ids = ["n1", "n2", "n3"];
    graft::generate_certs(&dir, &ids).expect("certs");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let ms = Duration::from_millis;
    let builder = |i: usize, n: usize| {
        let mut b = Node::builder("bench", ids[i], format!("127.0.0.1:{}", ports[i]))
            .state_path(dir.join(format!("{}-{n}.graft", ids[i])))
            .tls(dir.join(format!("{}.pem", ids[i])), dir.join(format!("{}-key.pem", ids[i])), dir.join("ca.pem"))
            .timeouts(ms(20), ms(120), ms(180));
        for j in 0..n {
            if j != i {
                b = b.peer(ids[j], format!("127.0.0.1:{}", ports[j]));
            }
        }
        b
    };

    // Queries on a single leading node.
    let solo = builder(0, 1).start().expect("start");
    assert!(wait_until(Duration::from_secs(10), || solo.is_leader()), "no leader");
    println!("graft {} (Rust binding)", graft::version());
    println!("{:<34} {:>10}", "query (median of 9 runs)", "ns/call");
    let q: [(&str, u32, &dyn Fn()); 6] = [
        ("Node::state", CALLS, &|| {
            black_box(solo.state());
        }),
        ("Node::is_leader", CALLS, &|| {
            black_box(solo.is_leader());
        }),
        ("Node::lease", CALLS, &|| {
            black_box(solo.lease());
        }),
        ("Node::term", CALLS, &|| {
            black_box(solo.term());
        }),
        ("Node::leader (allocates a String)", CALLS / 4, &|| {
            black_box(solo.leader());
        }),
        ("Node::stats", CALLS / 10, &|| {
            black_box(solo.stats());
        }),
    ];
    for (name, calls, f) in q {
        println!("{name:<34} {:>10.1}", median_ns(calls, f));
    }
    println!(
        "{:<34} {:>10.1}",
        "Lease::remaining (clock_gettime)",
        median_ns(CALLS, || {
            black_box(Duration::from_nanos(black_box(monotonic_ns())));
        })
    );
    solo.close().unwrap();

    // Event -> closure latency over step-down handovers. Each closure finds
    // its node through a Weak (no cycle: the node owns the closure) to read
    // its own delay; u64::MAX while it cannot.
    let stepped: Arc<Vec<AtomicU64>> = Arc::new((0..3).map(|_| AtomicU64::new(0)).collect());
    let delay: Arc<Vec<AtomicU64>> = Arc::new((0..3).map(|_| AtomicU64::new(u64::MAX)).collect());
    let selves: Arc<Vec<OnceLock<Weak<Node>>>> = Arc::new((0..3).map(|_| OnceLock::new()).collect());
    let nodes: Vec<Arc<Node>> = (0..3)
        .map(|i| {
            let (s, d, me) = (stepped.clone(), delay.clone(), selves.clone());
            Arc::new(
                builder(i, 3)
                    .on_state_change(move |from, to, _| {
                        if from == State::Leader && to == State::Follower {
                            let t = monotonic_ns();
                            let own = me[i].get().and_then(Weak::upgrade).map(|n| n.stats().callback_delay_last);
                            d[i].store(own.map_or(u64::MAX, |x| x.as_nanos() as u64), Ordering::Relaxed);
                            s[i].store(t, Ordering::Release);
                        }
                    })
                    .start()
                    .expect("start"),
            )
        })
        .collect();
    for (slot, n) in selves.iter().zip(&nodes) {
        let _ = slot.set(Arc::downgrade(n));
    }
    let (mut lat, mut ret, mut after, mut own) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..HANDOVERS {
        let mut l = None;
        if !wait_until(Duration::from_secs(10), || {
            l = (0..3).find(|&i| nodes[i].is_leader());
            l.is_some()
        }) {
            break;
        }
        let l = l.unwrap();
        stepped[l].store(0, Ordering::Release);
        let t0 = monotonic_ns();
        if nodes[l].step_down().is_err() {
            continue; // the lease lapsed in between: try again
        }
        let t1 = monotonic_ns();
        if !wait_until(Duration::from_secs(5), || stepped[l].load(Ordering::Acquire) != 0) {
            break;
        }
        let cb = stepped[l].load(Ordering::Acquire);
        let d = delay[l].load(Ordering::Relaxed);
        if d != u64::MAX {
            own.push(d);
        }
        lat.push(cb - t0);
        ret.push(t1 - t0);
        after.push(cb.saturating_sub(t1));
    }
    for mut n in nodes {
        // A closure may hold its node for a moment (upgraded Weak): wait.
        let n = loop {
            match Arc::try_unwrap(n) {
                Ok(n) => break n,
                Err(shared) => n = shared,
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        n.close().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    if lat.len() < 10 {
        eprintln!("bench: only {} handovers", lat.len());
        std::process::exit(1);
    }
    println!("\n{:<34} {:>10} {:>10} {:>10}", "event -> Rust closure", "p50 us", "p99 us", "samples");
    if !own.is_empty() {
        let k = own.len();
        println!("{:<34} {:>10.1} {:>10.1} {k:>10}", "event -> callback latency", pct(&mut own, 50), pct(&mut own, 99));
        println!("  (callback_delay_last, read inside the closure)");
    }
    let n = lat.len();
    println!("{:<34} {:>10.1} {:>10.1} {n:>10}", "step_down -> on_state_change", pct(&mut lat, 50), pct(&mut lat, 99));
    println!(
        "{:<34} {:>10.1} {:>10.1} {n:>10}",
        "  of which step_down call returns",
        pct(&mut ret, 50),
        pct(&mut ret, 99)
    );
    println!(
        "{:<34} {:>10.1} {:>10.1} {n:>10}",
        "  step_down return -> closure",
        pct(&mut after, 50),
        pct(&mut after, 99)
    );
}
