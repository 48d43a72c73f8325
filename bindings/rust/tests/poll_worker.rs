//! paused_leader_reports_loss_first: three poll_worker example processes
//! (poll(2) on the node's descriptor); the leader is paused with SIGSTOP
//! past its deadline, another takes over, and on SIGCONT the paused one
//! prints its loss before any more work of its old term; no two processes
//! ever work at overlapping times (one clock, CLOCK_MONOTONIC). SIGTERM
//! then stops all three cleanly.
//!
//! The example binary is target/<profile>/examples/poll_worker, which
//! `cargo test` builds before running the tests.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGTERM: i32 = 15;
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

/// A worker and its output lines, split in words.
struct Worker {
    child: Child,
    lines: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Worker {
    fn spawn(c: &Cluster, i: usize) -> Worker {
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().unwrap().parent().unwrap().join("examples/poll_worker");
        assert!(bin.is_file(), "{} missing: run through `cargo test` (it builds the examples)", bin.display());
        let mut cmd = Command::new(bin);
        cmd.args(["--id", &c.ids[i], "--listen", &c.addrs[i]])
            .args(["--state", c.dir.path().join(format!("{}.graft", c.ids[i])).to_str().unwrap()])
            .args(["--certs", c.dir.path().join("certs").to_str().unwrap()])
            .stdout(Stdio::piped());
        for j in (0..c.ids.len()).filter(|&j| j != i) {
            cmd.args(["--peer", &format!("{}={}", c.ids[j], c.addrs[j])]);
        }
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                l.lock().unwrap().push(line.split_whitespace().map(str::to_owned).collect());
            }
        });
        Worker { child, lines }
    }

    fn field(line: &[String], key: &str) -> u64 {
        line.iter().find_map(|w| w.strip_prefix(&format!("{key}="))).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// The term of the lease it holds by its output, else 0.
    fn holding(&self) -> u64 {
        let lines = self.lines.lock().unwrap();
        match lines.iter().rev().find(|l| l[0] == "LEASE") {
            Some(l) if Self::field(l, "held") == 1 => Self::field(l, "term"),
            _ => 0,
        }
    }

    /// The times (ms) of its WORK lines of term, from line `from` on.
    fn work(&self, term: u64, from: usize) -> Vec<u64> {
        let lines = self.lines.lock().unwrap();
        lines[from.min(lines.len())..]
            .iter()
            .filter(|l| l[0] == "WORK" && Self::field(l, "token") == term)
            .map(|l| Self::field(l, "t"))
            .collect()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { kill(self.child.id() as i32, sig) };
    }
}

#[test]
fn paused_leader_reports_loss_first() {
    let c = Cluster::new("pollworker", 3);
    let mut w: Vec<Worker> = (0..3).map(|i| Worker::spawn(&c, i)).collect();
    let leader = |skip: usize, w: &[Worker]| {
        (0..3).find(|&i| i != skip && w[i].holding() > 0 && !w[i].work(w[i].holding(), 0).is_empty())
    };
    let mut l = 9;
    wait_until("a working leader", Duration::from_secs(20), || leader(9, &w).map(|i| l = i).is_some());
    let term1 = w[l].holding();
    w[l].signal(SIGSTOP); // paused past its deadline
    let mut l2 = 9;
    wait_until("another leader", Duration::from_secs(20), || leader(l, &w).map(|i| l2 = i).is_some());
    let seen = w[l].lines.lock().unwrap().len();
    w[l].signal(SIGCONT);
    wait_until("the loss on resume", Duration::from_secs(10), || w[l].holding() == 0);
    {
        let lines = w[l].lines.lock().unwrap();
        let after = &lines[seen..];
        let lost = after.iter().position(|x| x[0] == "LEASE").unwrap();
        assert!(after[..lost].iter().all(|x| x[0] != "WORK"), "work after the resume before the loss: {after:?}");
    }
    let (old, new) = (w[l].work(term1, 0), w[l2].work(w[l2].holding(), 0));
    println!("{} last worked at {} ms, {} first at {} ms", c.ids[l], old[old.len() - 1], c.ids[l2], new[0]);
    assert!(old[old.len() - 1] < new[0], "overlapping work");
    for x in &w {
        x.signal(SIGTERM);
    }
    for (i, x) in w.iter_mut().enumerate() {
        assert!(x.child.wait().unwrap().success(), "{} exit status", c.ids[i]);
        wait_until("the EXIT line", Duration::from_secs(5), || {
            x.lines.lock().unwrap().iter().any(|l| l[0] == "EXIT" && Worker::field(l, "close") == 0)
        });
    }
}
