//! leader_killed_failover: three leader_worker example processes; the
//! leader is killed with SIGKILL (no handover possible); a survivor must
//! take over at a higher term within a few election timeouts. Then SIGTERM
//! stops the rest gracefully (EXIT lines with close=0).
//!
//! The example binary is target/<profile>/examples/leader_worker, which
//! `cargo test` builds before running the tests.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGTERM: i32 = 15;

fn worker_binary() -> PathBuf {
    // target/<profile>/deps/failover-<hash> -> target/<profile>/examples/leader_worker
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("examples/leader_worker");
    assert!(bin.is_file(), "{} missing: run through `cargo test` (it builds the examples)", bin.display());
    bin
}

/// One parsed output line of a worker: (worker index, kind, key=value map).
#[derive(Clone, Debug)]
struct Line {
    who: usize,
    kind: String,
    fields: Vec<(String, String)>,
}

impl Line {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }
}

fn spawn(c: &Cluster, i: usize, lines: &Arc<Mutex<Vec<Line>>>) -> Child {
    let mut cmd = Command::new(worker_binary());
    cmd.args(["--id", &c.ids[i], "--listen", &c.addrs[i], "--cluster", "failover"])
        .args(["--state", c.dir.path().join(format!("{}.graft", c.ids[i])).to_str().unwrap()])
        .args(["--certs", c.dir.path().join("certs").to_str().unwrap()])
        .args(["--heartbeat-ms", "20", "--election-min-ms", "120", "--election-max-ms", "180"])
        .env_remove("LD_LIBRARY_PATH")
        .stdout(Stdio::piped());
    for j in 0..c.ids.len() {
        if j != i {
            cmd.args(["--peer", &format!("{}={}", c.ids[j], c.addrs[j])]);
        }
    }
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let lines = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let mut parts = l.split_whitespace();
            let kind = parts.next().unwrap_or("").to_string();
            let fields = parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
            lines.lock().unwrap().push(Line { who: i, kind, fields });
        }
    });
    child
}

/// The worker that printed a WORK line (holds the lease) with term > `after`,
/// once one has.
fn working(lines: &Mutex<Vec<Line>>, after: u64, skip: Option<usize>) -> Option<(usize, u64)> {
    lines.lock().unwrap().iter().rev().find_map(|l| {
        let token: u64 = l.get("token")?.parse().ok()?;
        (l.kind == "WORK" && token > after && Some(l.who) != skip).then_some((l.who, token))
    })
}

#[test]
fn leader_killed_failover() {
    let c = Cluster::new("failover", 3);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut children: Vec<Option<Child>> = (0..3).map(|i| Some(spawn(&c, i, &lines))).collect();

    let mut first = None;
    wait_until("a worker doing leader work", Duration::from_secs(15), || {
        first = working(&lines, 0, None);
        first.is_some()
    });
    let (l, term) = first.unwrap();
    let mut victim = children[l].take().unwrap();
    let killed_at = Instant::now();
    victim.kill().unwrap(); // SIGKILL: no handover, no goodbye
    let status = victim.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));

    let mut next = None;
    wait_until("a survivor doing leader work at a higher term", Duration::from_secs(10), || {
        next = working(&lines, term, Some(l));
        next.is_some()
    });
    let (l2, term2) = next.unwrap();
    let took = killed_at.elapsed();
    // Lease (120 ms) + election timeout (<= 180 ms) + pre-vote and vote
    // round trips + one 200 ms work period: well under 2 s even on a busy box.
    assert!(took < Duration::from_secs(3), "failover took {took:?}");

    // Graceful stop of the survivors: SIGTERM -> step down / close -> EXIT.
    for (i, ch) in children.iter_mut().enumerate() {
        if let Some(ch) = ch {
            // SAFETY: kill(2) on our own child's pid.
            assert_eq!(unsafe { kill(ch.id() as i32, SIGTERM) }, 0, "SIGTERM to worker {i}");
        }
    }
    for ch in children.iter_mut().flatten() {
        assert!(ch.wait().unwrap().success());
    }
    let ls = lines.lock().unwrap();
    let exits: Vec<&Line> = ls.iter().filter(|l| l.kind == "EXIT").collect();
    assert_eq!(exits.len(), 2, "{exits:?}");
    assert!(exits.iter().all(|e| e.get("close") == Some("0")));
    assert!(ls.iter().any(|l| l.kind == "EVENT" && l.get("kind") == Some("state") && l.get("state") == Some("leader")));
    println!(
        "checked: {} killed at term {term}; {} leads at term {term2} after {took:?}; survivors exited cleanly",
        c.ids[l], c.ids[l2]
    );
}
