//! leader_worker - a task that runs on exactly one node of a cluster: the
//! leader. The Rust twin of examples/c/leader_worker.c: same flags, same
//! output.
//!
//! Shows: building a node, reacting to callbacks, acting only while the
//! lease holds, using the term as a fencing token, and stepping down cleanly
//! on SIGTERM/SIGINT so that another node takes over at once.
//!
//! Run three (from bindings/rust; the first writes certificates):
//!   cargo run --offline --example leader_worker -- --gencerts /tmp/certs n1 n2 n3
//!   cargo run --offline --example leader_worker -- --id n1 --listen 127.0.0.1:7001 \
//!       --peer n2=127.0.0.1:7002 --peer n3=127.0.0.1:7003 --state /tmp/n1.graft --certs /tmp/certs &
//!   ... likewise n2 and n3; kill the leader and watch another take over.
//! (or run target/debug/examples/leader_worker directly: it needs no
//! LD_LIBRARY_PATH, libgraft is linked in).
//!
//! Output, one line per event, parsed by the failover test:
//!   EVENT t=<CLOCK_MONOTONIC ms> id=<id> kind=state from=<s> state=<s> term=<n> leader=<id or ->
//!   EVENT t=<ms> id=<id> kind=leader state=<s> term=<n> leader=<id or ->
//!   WORK  t=<ms> id=<id> token=<term> lease_ms=<ms left>
//!   ERROR t=<ms> id=<id> code=<n> msg=<text>
//!   EXIT  t=<ms> id=<id> term=<n> step_down=<rc> close=<rc>

use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graft::{LogLevel, Node, State};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: i32) {
    STOP.store(true, Ordering::SeqCst); // async-signal-safe: one atomic store
}

extern "C" {
    /// libc's signal(2) (glibc: BSD semantics, the handler stays installed).
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
}
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

fn mono_ms() -> u64 {
    graft::monotonic_ns() / 1_000_000
}

fn usage(prog: &str) -> ! {
    eprintln!(
        "usage: {prog} --id ID --listen HOST:PORT [--peer ID=HOST:PORT]... --state FILE --certs DIR\n\
         \x20         [--cluster NAME] [--heartbeat-ms N] [--election-min-ms N] [--election-max-ms N]\n\
         \x20         [--verbose]\n\
         \x20      {prog} --gencerts DIR ID...\n\
         \x20 --certs DIR uses DIR/ca.pem, DIR/<id>.pem and DIR/<id>-key.pem"
    );
    exit(2);
}

/// What the callbacks last saw (they run one at a time, on the library's thread).
struct Seen {
    leader: String,
    state: State,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let prog = args[0].clone();
    if args.get(1).map(String::as_str) == Some("--gencerts") {
        if args.len() < 4 {
            usage(&prog);
        }
        if let Err(e) = graft::generate_certs(&args[2], &args[3..]) {
            eprintln!("leader_worker: {e}");
            exit(1);
        }
        return;
    }

    let (mut id, mut listen, mut state_path, mut certs) = (String::new(), None, None, None);
    let mut cluster = "graft-demo".to_string();
    let (mut hb, mut emin, mut emax) = (0u64, 0u64, 0u64);
    let mut verbose = false;
    let mut peers = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        if a == "--verbose" {
            verbose = true;
            continue;
        }
        let Some(v) = it.next() else { usage(&prog) };
        let num = |v: &str| v.parse::<u64>().unwrap_or_else(|_| usage(&prog));
        match a.as_str() {
            "--id" => id = v.clone(),
            "--listen" => listen = Some(v.clone()),
            "--state" => state_path = Some(v.clone()),
            "--certs" => certs = Some(v.clone()),
            "--cluster" => cluster = v.clone(),
            "--heartbeat-ms" => hb = num(v),
            "--election-min-ms" => emin = num(v),
            "--election-max-ms" => emax = num(v),
            "--peer" => match v.split_once('=') {
                Some((pid, addr)) => peers.push((pid.to_string(), addr.to_string())),
                None => usage(&prog),
            },
            _ => usage(&prog),
        }
    }
    let (Some(listen), Some(state_path), Some(certs)) = (listen, state_path, certs) else { usage(&prog) };
    if id.is_empty() {
        usage(&prog);
    }

    let seen = Arc::new(Mutex::new(Seen { leader: "-".into(), state: State::Follower }));
    let mut b = Node::builder(cluster, id.clone(), listen)
        .state_path(&state_path)
        .tls(format!("{certs}/{id}.pem"), format!("{certs}/{id}-key.pem"), format!("{certs}/ca.pem"))
        .timeouts(Duration::from_millis(hb), Duration::from_millis(emin), Duration::from_millis(emax));
    for (pid, addr) in peers {
        b = b.peer(pid, addr);
    }
    let (s1, s2, i1, i2, i3, i4) = (seen.clone(), seen.clone(), id.clone(), id.clone(), id.clone(), id.clone());
    let b = b
        .on_state_change(move |from, to, term| {
            let mut s = s1.lock().unwrap();
            s.state = to;
            println!("EVENT t={} id={i1} kind=state from={from} state={to} term={term} leader={}", mono_ms(), s.leader);
        })
        .on_leader_change(move |leader, term| {
            let mut s = s2.lock().unwrap();
            s.leader = leader.unwrap_or("-").to_string();
            println!("EVENT t={} id={i2} kind=leader state={} term={term} leader={}", mono_ms(), s.state, s.leader);
        })
        .on_error(move |e| println!("ERROR t={} id={i3} code={} msg={e}", mono_ms(), e.code()))
        .on_log(move |level, msg| {
            if verbose || level >= LogLevel::Warn {
                eprintln!("LOG id={i4} level={level:?} {msg}");
            }
        });

    // The program owns SIGINT/SIGTERM: the library never touches them.
    // SAFETY: on_signal only stores to an atomic, which is async-signal-safe.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }

    let node = match b.start() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("leader_worker: {e} ({:?}, code {})", e.kind(), e.code());
            exit(1);
        }
    };

    // The task: once per ~200 ms, only while the lease holds. A real task
    // would pass the token to the resource it writes, which rejects writes
    // carrying a term older than the newest it has seen.
    while !STOP.load(Ordering::SeqCst) {
        if let Some(lease) = node.lease() {
            if lease.holds() {
                println!(
                    "WORK t={} id={id} token={} lease_ms={}",
                    mono_ms(),
                    lease.term,
                    lease.remaining().as_millis()
                );
            }
        }
        // Short slices, so a signal is noticed within 20 ms.
        for _ in 0..10 {
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // Hand over before leaving: a new leader in one round trip. close would
    // do it too; doing it explicitly shows the result.
    let term = node.term();
    let sd = if node.is_leader() {
        code(node.step_down())
    } else {
        -8 /* GRAFT_ENOTLEADER */
    };
    let cl = code(node.close());
    println!("EXIT t={} id={id} term={term} step_down={sd} close={cl}", mono_ms());
    exit(if cl == 0 { 0 } else { 1 });
}

/// A result as the C return code the EXIT line shows.
fn code(r: graft::Result<()>) -> i32 {
    r.map_or_else(|e| e.code(), |()| 0)
}
