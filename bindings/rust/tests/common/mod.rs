//! Helpers shared by the integration tests: temp folders, free ports,
//! certificates, a 3-node cluster on loopback, waiting with deadlines.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use graft::{Builder, Node};

pub const HB: Duration = Duration::from_millis(20);
pub const EMIN: Duration = Duration::from_millis(120);
pub const EMAX: Duration = Duration::from_millis(180);

/// A fresh folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("graft-rs-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A UDP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Wait until `f` is true, polling every 2 ms; panic after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Ids, addresses and certificates of an n-node cluster (not started).
pub struct Cluster {
    pub dir: TempDir,
    pub ids: Vec<String>,
    pub addrs: Vec<String>,
}

impl Cluster {
    pub fn new(name: &str, n: usize) -> Cluster {
        let dir = TempDir::new(name);
        let ids: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        graft::generate_certs(dir.path().join("certs"), &ids).unwrap();
        let addrs = ids.iter().map(|_| format!("127.0.0.1:{}", free_port())).collect();
        Cluster { dir, ids, addrs }
    }

    /// A builder for node i with peers, state file, TLS and short timings.
    pub fn builder(&self, i: usize) -> Builder {
        self.builder_with(i, "test", &self.ids[i], &self.addrs[i])
    }

    /// Like `builder`, with the cluster name, node id and listen address
    /// given (certificates and state file still those of node i).
    pub fn builder_with(&self, i: usize, cluster: &str, node_id: &str, listen: &str) -> Builder {
        let id = &self.ids[i];
        let certs = self.dir.path().join("certs");
        let mut b = Node::builder(cluster, node_id, listen)
            .state_path(self.dir.path().join(format!("{id}.graft")))
            .tls(certs.join(format!("{id}.pem")), certs.join(format!("{id}-key.pem")), certs.join("ca.pem"))
            .timeouts(HB, EMIN, EMAX);
        for (j, (pid, addr)) in self.ids.iter().zip(&self.addrs).enumerate() {
            if j != i {
                b = b.peer(pid.clone(), addr.clone());
            }
        }
        b
    }

    /// Start every node with default builders.
    pub fn start_all(&self) -> Vec<Node> {
        (0..self.ids.len()).map(|i| self.builder(i).start().unwrap()).collect()
    }
}

/// Index of the single node that holds a lease, once exactly one does and
/// every other node names it as leader.
pub fn wait_for_leader(nodes: &[&Node], timeout: Duration) -> usize {
    let mut found = 0;
    wait_until("one agreed leader", timeout, || {
        let leaders: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].is_leader()).collect();
        if leaders.len() != 1 {
            return false;
        }
        let l = leaders[0];
        let id = nodes[l].id().to_string();
        found = l;
        nodes.iter().all(|n| n.leader().as_deref() == Some(id.as_str()))
    });
    found
}
