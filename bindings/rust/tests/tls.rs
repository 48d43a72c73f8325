//! Certificates that rotate (`Node::reload_tls`) and certificates bound to
//! a cluster (`generate_cluster_certs`): good files are taken without a
//! leader change, bad ones are an `Err` of kind `Tls` naming the file and
//! change nothing, and a bad file the node finds by itself goes to the
//! error callback.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use graft::{ErrorKind, Node};

/// Replace `path` with `data` atomically, as rotation tools do.
fn replace(path: &Path, data: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn reload_tls_takes_good_files_and_refuses_bad_ones() {
    let dir = TempDir::new("reload");
    let certs = dir.path().join("certs");
    let other = dir.path().join("other");
    graft::generate_cluster_certs(&certs, "tls", &["n1", "n2"]).unwrap();
    graft::generate_cluster_certs(&other, "tls", &["n1"]).unwrap();
    let own = dir.path().join("n1");
    std::fs::create_dir_all(&own).unwrap();
    let [cert, key, ca]: [PathBuf; 3] = ["n1.pem", "n1-key.pem", "ca.pem"].map(|f| {
        std::fs::copy(certs.join(f), own.join(f)).unwrap();
        own.join(f)
    });
    let errors: Arc<Mutex<Vec<graft::Error>>> = Arc::default();
    let seen = errors.clone();
    let node = Node::builder("tls", "n1", format!("127.0.0.1:{}", free_port()))
        .state_path(dir.path().join("n1.graft"))
        .tls(&cert, &key, &ca)
        .timeouts(HB, EMIN, EMAX)
        .on_error(move |e| seen.lock().unwrap().push(e.clone()))
        .start()
        .unwrap();
    wait_until("n1 leads", Duration::from_secs(10), || node.is_leader());
    let term = node.term();

    node.reload_tls().unwrap(); // unchanged: harmless
    graft::generate_cluster_certs(&certs, "tls", &["n1"]).unwrap(); // a new certificate, same CA
    replace(&cert, &read(&certs.join("n1.pem")));
    replace(&key, &read(&certs.join("n1-key.pem")));
    node.reload_tls().unwrap();

    let cases: Vec<(&str, Vec<(&PathBuf, Vec<u8>)>, &str)> = vec![
        ("corrupt certificate", vec![(&cert, b"-----BEGIN CERTIFICATE-----\ncut".to_vec())], "cut off"),
        (
            "certificate for another id",
            vec![(&cert, read(&certs.join("n2.pem"))), (&key, read(&certs.join("n2-key.pem")))],
            "names node \"n2\", not \"n1\"",
        ),
        (
            "certificate of another CA",
            vec![(&cert, read(&other.join("n1.pem"))), (&key, read(&other.join("n1-key.pem")))],
            "not valid for CA",
        ),
        ("corrupt CA", vec![(&ca, b"garbage".to_vec())], "no PEM certificate"),
    ];
    for (what, spoil, needle) in cases {
        let good: Vec<(&PathBuf, Vec<u8>)> = spoil.iter().map(|(p, _)| (*p, read(p))).collect();
        for (p, data) in &spoil {
            replace(p, data);
        }
        let e = node.reload_tls().expect_err(what);
        assert_eq!(e.kind(), ErrorKind::Tls, "{what}: {e}");
        assert!(e.message().contains(needle), "{what}: {e}");
        assert!(e.message().contains(spoil[0].0.to_str().unwrap()), "{what}: {e} should name the file");
        for (p, data) in &good {
            replace(p, data);
        }
        println!("checked: {what}: {e}");
    }
    node.reload_tls().unwrap();
    assert!(errors.lock().unwrap().is_empty(), "a forced reload's failure is the caller's, not the callback's");

    // Broken behind its back: the node finds and reports it by itself.
    replace(&key, b"garbage");
    let key_name = key.to_str().unwrap().to_string();
    wait_until("an error callback naming the bad key file", Duration::from_secs(10), || {
        errors.lock().unwrap().iter().any(|e| e.kind() == ErrorKind::Tls && e.message().contains(&key_name))
    });
    assert!(node.is_leader());
    assert_eq!(node.term(), term);
    node.close().unwrap();
}

#[test]
fn generate_cluster_certs_binds_certificates_to_a_cluster() {
    let dir = TempDir::new("clustercerts");
    let certs = dir.path().join("certs");
    graft::generate_cluster_certs(&certs, "blue", &["n1", "n2"]).unwrap();
    let start = |cluster: &str| {
        Node::builder(cluster, "n1", format!("127.0.0.1:{}", free_port()))
            .state_path(dir.path().join(format!("{cluster}.graft")))
            .tls(certs.join("n1.pem"), certs.join("n1-key.pem"), certs.join("ca.pem"))
            .timeouts(HB, EMIN, EMAX)
            .start()
    };
    start("blue").unwrap().close().unwrap();
    let e = start("red").err().expect("a node of cluster red started with a certificate bound to blue");
    assert_eq!(e.kind(), ErrorKind::Tls);
    assert!(e.message().contains("is for cluster \"blue\", this is cluster \"red\""), "{e}");

    for bad in ["", "blue/green", &"x".repeat(254)] {
        let e = graft::generate_cluster_certs(dir.path().join("bad"), bad, &["n1"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("cluster name"), "{e}");
    }
    let e = graft::generate_cluster_certs(dir.path().join("bad"), "blue", &["n1", "n1"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}
