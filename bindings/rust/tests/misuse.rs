//! Misuse returns `Err` with the right kind and a message naming the
//! problem: every kind of bad configuration, bad certificates, a corrupt
//! state file, a busy port, and generate_certs with bad arguments.
//! (Calls after close cannot be written: `close(self)` consumes the node.)

mod common;

use std::time::Duration;

use common::*;
use graft::{ErrorKind, Node};

fn expect_err(what: &str, r: graft::Result<Node>, kind: ErrorKind, needle: &str) {
    let e = match r {
        Ok(_) => panic!("{what}: started, expected {kind:?}"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), kind, "{what}: {e}");
    assert!(e.code() < 0);
    assert!(
        e.message().to_lowercase().contains(&needle.to_lowercase()),
        "{what}: message {:?} should mention {needle:?}",
        e.message()
    );
    println!("checked: {what}: {kind:?}: {e}");
}

#[test]
fn bad_configs_are_rejected() {
    let c = Cluster::new("badcfg", 3);
    let ms = Duration::from_millis;
    let cases: Vec<(&str, graft::Result<Node>, ErrorKind, &str)> = vec![
        ("empty node id", c.builder_with(0, "test", "", &c.addrs[0]).start(), ErrorKind::InvalidArgument, "id"),
        (
            "id with a bad character",
            c.builder_with(0, "test", "n 1", &c.addrs[0]).start(),
            ErrorKind::InvalidArgument,
            "id",
        ),
        (
            "id starting with a dot",
            c.builder_with(0, "test", ".n1", &c.addrs[0]).start(),
            ErrorKind::InvalidArgument,
            "id",
        ),
        (
            "id with a NUL byte",
            c.builder_with(0, "test", "n\0x", &c.addrs[0]).start(),
            ErrorKind::InvalidArgument,
            "NUL",
        ),
        ("empty cluster", c.builder_with(0, "", "n1", &c.addrs[0]).start(), ErrorKind::InvalidArgument, "cluster"),
        ("self as peer", c.builder(0).peer("n1", "127.0.0.1:1").start(), ErrorKind::InvalidArgument, "n1"),
        ("duplicate peer", c.builder(0).peer("n2", "127.0.0.1:1").start(), ErrorKind::InvalidArgument, "n2"),
        ("malformed peer address", c.builder(0).peer("n9", "nowhere").start(), ErrorKind::InvalidArgument, "nowhere"),
        (
            "malformed listen address",
            c.builder_with(0, "test", "n1", "127.0.0.1").start(),
            ErrorKind::InvalidArgument,
            "127.0.0.1",
        ),
        (
            "election_min < 3 * heartbeat",
            c.builder(0).timeouts(ms(50), ms(100), ms(200)).start(),
            ErrorKind::InvalidArgument,
            "heartbeat",
        ),
        (
            "election_max <= election_min",
            c.builder(0).timeouts(ms(20), ms(200), ms(200)).start(),
            ErrorKind::InvalidArgument,
            "election",
        ),
        (
            "election_max over an hour",
            c.builder(0).timeouts(ms(20), ms(200), Duration::from_secs(3601)).start(),
            ErrorKind::InvalidArgument,
            "election",
        ),
        (
            "timeout beyond u32 ms",
            c.builder(0).timeouts(ms(20), ms(200), Duration::from_secs(u64::MAX / 4)).start(),
            ErrorKind::InvalidArgument,
            "too long",
        ),
        ("clock drift out of range", c.builder(0).max_clock_drift(0.5).start(), ErrorKind::InvalidArgument, "drift"),
        (
            "a witness without peers",
            {
                let certs = c.dir.path().join("certs");
                Node::builder("test", "n1", c.addrs[0].clone())
                    .state_path(c.dir.path().join("lone.graft"))
                    .tls(certs.join("n1.pem"), certs.join("n1-key.pem"), certs.join("ca.pem"))
                    .priority(0)
                    .start()
            },
            ErrorKind::InvalidArgument,
            "a cluster needs a node that can lead",
        ),
        (
            // EMIN + (2 peers - 1) x 60 ms is not below EMAX (120 + 60 = 180).
            "succession delay that does not fit the timings",
            c.builder(0).succession_delay(EMAX - EMIN).start(),
            ErrorKind::InvalidArgument,
            "SuccessionDelay",
        ),
        (
            "succession delay beyond u32 ms",
            c.builder(0).succession_delay(Duration::from_secs(u64::MAX / 4)).start(),
            ErrorKind::InvalidArgument,
            "succession_delay",
        ),
        (
            "no state path",
            {
                let certs = c.dir.path().join("certs");
                Node::builder("test", "n1", c.addrs[0].clone())
                    .tls(certs.join("n1.pem"), certs.join("n1-key.pem"), certs.join("ca.pem"))
                    .start()
            },
            ErrorKind::InvalidArgument,
            "state",
        ),
        (
            "no TLS files",
            Node::builder("test", "n1", c.addrs[0].clone()).state_path(c.dir.path().join("x.graft")).start(),
            ErrorKind::InvalidArgument,
            "tls",
        ),
    ];
    let n = cases.len();
    for (what, r, kind, needle) in cases {
        expect_err(what, r, kind, needle);
    }
    println!("checked: {n} bad configurations");
}

#[test]
fn bad_certificates_are_rejected() {
    let c = Cluster::new("badcert", 3);
    let d = c.dir.path();
    let certs = d.join("certs");
    std::fs::write(d.join("garbage.pem"), "not a certificate\n").unwrap();
    let other = d.join("other");
    graft::generate_certs(&other, &["n1"]).unwrap();
    let state = d.join("n1.graft");
    let tls = |cert: &std::path::Path, key: &std::path::Path, ca: &std::path::Path| {
        Node::builder("test", "n1", c.addrs[0].clone()).state_path(&state).tls(cert, key, ca).start()
    };
    let (cert, key, ca) = (certs.join("n1.pem"), certs.join("n1-key.pem"), certs.join("ca.pem"));
    expect_err("missing certificate", tls(&d.join("missing.pem"), &key, &ca), ErrorKind::Tls, "missing.pem");
    expect_err("garbage certificate", tls(&d.join("garbage.pem"), &key, &ca), ErrorKind::Tls, "garbage.pem");
    expect_err("garbage CA", tls(&cert, &key, &d.join("garbage.pem")), ErrorKind::Tls, "garbage.pem");
    expect_err("key of another certificate", tls(&cert, &other.join("n1-key.pem"), &ca), ErrorKind::Tls, "");
    expect_err(
        "certificate of another node",
        tls(&certs.join("n2.pem"), &certs.join("n2-key.pem"), &ca),
        ErrorKind::Tls,
        "n1",
    );
    expect_err(
        "certificate not signed by the CA",
        tls(&other.join("n1.pem"), &other.join("n1-key.pem"), &ca),
        ErrorKind::Tls,
        "",
    );
}

#[test]
fn a_peer_with_another_ca_is_reported_not_trusted() {
    // n1 uses certificates of a different CA: the others refuse its
    // handshakes, say so through on_error, and elect a leader without it.
    let c = Cluster::new("otherca", 3);
    let other = c.dir.path().join("other");
    graft::generate_certs(&other, &["n1"]).unwrap();
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let e2 = errors.clone();
    let n1 = c
        .builder(0)
        .tls(other.join("n1.pem"), other.join("n1-key.pem"), other.join("ca.pem"))
        .on_error(move |e| e2.lock().unwrap().push(e.kind()))
        .start()
        .unwrap();
    let n2 = c.builder(1).start().unwrap();
    let n3 = c.builder(2).start().unwrap();
    let l = wait_for_leader(&[&n2, &n3], Duration::from_secs(10));
    wait_until("a TLS error reported on n1", Duration::from_secs(10), || {
        errors.lock().unwrap().contains(&ErrorKind::Tls)
    });
    assert!(!n1.is_leader());
    assert_ne!(n1.leader().as_deref(), Some(["n2", "n3"][l]));
    wait_until("handshake failures counted", Duration::from_secs(10), || {
        n2.stats().drop_handshake_failed + n3.stats().drop_handshake_failed > 0
    });
    println!("checked: a node with another CA is refused (ETLS reported, handshakes counted), the others elect");
}

#[test]
fn corrupt_state_file_is_an_error_not_a_reset() {
    let c = Cluster::new("corrupt", 1);
    let state = c.dir.path().join("n1.graft");
    // A valid file first: start, lead (term >= 1 persisted), close.
    let n = c.builder(0).start().unwrap();
    wait_until("a solo leader", Duration::from_secs(10), || n.is_leader());
    let term = n.term();
    n.close().unwrap();
    let mut bytes = std::fs::read(&state).unwrap();
    assert!(!bytes.is_empty());
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&state, &bytes).unwrap();
    expect_err("corrupt state file", c.builder(0).start(), ErrorKind::Storage, "n1.graft");
    std::fs::write(&state, b"").unwrap();
    expect_err("empty state file", c.builder(0).start(), ErrorKind::Storage, "empty");
    println!("checked: a state file with a flipped byte (term was {term}) or empty is refused with Storage");
}

#[test]
fn missing_state_folder_is_refused_at_start() {
    // A missing file is a fresh node, but a missing folder would only fail at
    // the first vote: start refuses it at once, naming the folder.
    let c = Cluster::new("nofolder", 1);
    expect_err(
        "state file in a missing folder",
        c.builder(0).state_path(c.dir.path().join("no/such/dir/n1.graft")).start(),
        ErrorKind::Storage,
        "no/such/dir",
    );
    println!("checked: a state path in a missing folder is refused with Storage");
}

#[test]
fn busy_listen_port_is_a_network_error() {
    let c = Cluster::new("busyport", 1);
    let sock = std::net::UdpSocket::bind(&c.addrs[0]).unwrap();
    expect_err("listen port in use", c.builder(0).start(), ErrorKind::Network, &c.addrs[0]);
    drop(sock);
}

#[test]
fn generate_certs_rejects_bad_arguments() {
    let d = TempDir::new("gencerts");
    let e = graft::generate_certs(d.path(), &[] as &[&str]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(graft::generate_certs(d.path(), &["a", "a"]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(graft::generate_certs(d.path(), &["bad id"]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(graft::generate_certs(d.path(), &["ca"]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(graft::generate_certs(d.path(), &["nul\0"]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    std::fs::write(d.path().join("file"), "x").unwrap();
    assert_eq!(graft::generate_certs(d.path().join("file/sub"), &["n1"]).unwrap_err().kind(), ErrorKind::Storage);
    graft::generate_certs(d.path(), &["n1", "n2"]).unwrap();
    for f in ["ca.pem", "ca-key.pem", "n1.pem", "n1-key.pem", "n2.pem", "n2-key.pem"] {
        assert!(d.path().join(f).is_file(), "{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.path().join("n1-key.pem")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    println!("checked: generate_certs refuses empty, repeated, bad, reserved and NUL ids and unwritable folders");
}

#[test]
fn step_down_without_peers_answering() {
    // n1 alone cannot win 2 of 3 votes: it never leads, step_down says NotLeader.
    let c = Cluster::new("nopeer", 3);
    let n1 = c.builder(0).start().unwrap();
    assert_eq!(n1.step_down().unwrap_err().kind(), ErrorKind::NotLeader);
    assert_eq!(n1.leader(), None);
    assert!(n1.lease().is_none());
    n1.close().unwrap();
}
