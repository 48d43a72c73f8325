//! poll_worker - leader work driven by poll(2) on the node's descriptor,
//! without callbacks: the Rust twin of examples/c/epoll_worker.c.
//!
//! Shows: `node.as_raw_fd()` (`impl AsRawFd`, what `mio` or
//! `tokio::io::unix::AsyncFd` would watch) in a poll(2) loop, `next_event`
//! until it returns `None`, and leader work only between `LeaseAcquired` and
//! `LeaseLost`, each step checked against the newest deadline (renewals are
//! silent: `node.lease()` gives it).
//!
//! Run three (from bindings/rust; leader_worker writes the certificates):
//!   cargo run --offline --example leader_worker -- --gencerts /tmp/certs n1 n2 n3
//!   cargo run --offline --example poll_worker -- --id n1 --listen 127.0.0.1:7001 \
//!       --peer n2=127.0.0.1:7002 --peer n3=127.0.0.1:7003 --state /tmp/n1.graft --certs /tmp/certs &
//!   ... likewise n2 and n3; `kill -STOP` the leader, watch another take over,
//!   then `kill -CONT` it: it reports its loss before any more work.
//!
//! Output, one line per event:
//!   LEASE t=<CLOCK_MONOTONIC ms> id=<id> held=<0|1> term=<n>
//!   WORK  t=<ms> id=<id> token=<term> lease_ms=<ms left>
//!   EXIT  t=<ms> id=<id> close=<rc>

use std::os::fd::AsRawFd;
use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};

use graft::{Event, Node};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: i32) {
    STOP.store(true, Ordering::SeqCst); // async-signal-safe: one atomic store
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}
const POLLIN: i16 = 1;

extern "C" {
    /// libc's signal(2) (glibc: BSD semantics, the handler stays installed).
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
    /// libc's poll(2).
    fn poll(fds: *mut PollFd, n: u64, timeout_ms: i32) -> i32;
}

fn mono_ms() -> u64 {
    graft::monotonic_ns() / 1_000_000
}

fn main() -> Result<(), graft::Error> {
    let mut args = std::env::args().skip(1);
    let (mut id, mut listen, mut state, mut certs, mut peers) =
        (String::new(), String::new(), String::new(), String::new(), vec![]);
    while let (Some(flag), Some(v)) = (args.next(), args.next()) {
        match flag.as_str() {
            "--id" => id = v,
            "--listen" => listen = v,
            "--state" => state = v,
            "--certs" => certs = v,
            "--peer" => peers.push(v),
            _ => {
                eprintln!(
                    "usage: poll_worker --id ID --listen HOST:PORT [--peer ID=HOST:PORT]... --state FILE --certs DIR"
                );
                exit(2);
            }
        }
    }
    let mut b = Node::builder("graft-demo", &id, &listen).state_path(&state).tls(
        format!("{certs}/{id}.pem"),
        format!("{certs}/{id}-key.pem"),
        format!("{certs}/ca.pem"),
    );
    for p in &peers {
        let (pid, addr) = p.split_once('=').expect("--peer ID=HOST:PORT");
        b = b.peer(pid, addr);
    }
    // SAFETY: on_signal only stores to an atomic, which is async-signal-safe.
    unsafe {
        signal(2 /* SIGINT */, on_signal);
        signal(15 /* SIGTERM */, on_signal);
    }
    let node = b.start()?;
    let fd = node.as_raw_fd(); // events are queued from here on
    let mut holding: Option<u64> = None; // the term of the lease held

    while !STOP.load(Ordering::SeqCst) {
        let mut p = PollFd { fd, events: POLLIN, revents: 0 };
        // Wait for events; while leading, wake every 50 ms for the work.
        // SAFETY: one valid pollfd; a signal ends the wait early (EINTR).
        unsafe { poll(&mut p, 1, if holding.is_some() { 50 } else { 200 }) };
        while let Some(ev) = node.next_event()? {
            match ev {
                Event::LeaseAcquired(l) => holding = Some(l.term),
                Event::LeaseLost(_) => holding = None,
                Event::Overflow { .. } => holding = node.lease().map(|l| l.term), // events dropped: ask
                _ => continue,
            }
            println!("LEASE t={} id={id} held={} term={}", mono_ms(), u8::from(holding.is_some()), ev.term());
        }
        // The work: only with the newest deadline still ahead, carrying the
        // term to whatever it writes (the fencing token).
        if let (Some(term), Some(lease)) = (holding, node.lease()) {
            if lease.term == term && lease.holds() {
                println!("WORK t={} id={id} token={term} lease_ms={}", mono_ms(), lease.remaining().as_millis());
            }
        }
    }
    // Out of the loop before close (close closes the descriptor); close
    // hands the leadership over first when this node leads.
    let rc = node.close().map_or_else(|e| e.code(), |()| 0);
    println!("EXIT t={} id={id} close={rc}", mono_ms());
    exit(if rc == 0 { 0 } else { 1 });
}
