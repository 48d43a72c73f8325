//! A crate that depends on `graft` by path builds with `cargo build
//! --offline` into a binary that runs on its own: copied elsewhere and run
//! without LD_LIBRARY_PATH, it starts a node and elects itself. This is what
//! linking libgraft.a (bundled into graft's rlib) buys over an rpath.

use std::path::Path;
use std::process::Command;

const MAIN: &str = r#"
fn main() {
    let dir = std::env::args().nth(1).expect("a folder");
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    graft::generate_certs(&dir, &["solo"]).unwrap();
    let d = std::path::Path::new(&dir);
    let node = graft::Node::builder("dep", "solo", format!("127.0.0.1:{port}"))
        .state_path(d.join("solo.graft"))
        .tls(d.join("solo.pem"), d.join("solo-key.pem"), d.join("ca.pem"))
        .start()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !node.is_leader() && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    println!("OK version={} leader={:?} term={}", graft::version(), node.leader(), node.term());
    node.close().unwrap();
}
"#;

#[test]
fn dependent_crate_binary_runs_on_its_own() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dependent-crate");
    let src = tmp.join("app");
    std::fs::create_dir_all(src.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"graft-dependent-app\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
         [dependencies]\ngraft = {{ path = {:?} }}\n\n[workspace]\n",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::write(src.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(src.join("src/main.rs"), MAIN).unwrap();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = tmp.join("target");
    let out = Command::new(&cargo)
        .current_dir(&src)
        .args(["build", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr));

    // Copy the binary somewhere else and run it with a clean library path.
    let run_dir = tmp.join("run");
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).unwrap();
    let bin = run_dir.join("app");
    std::fs::copy(target.join("debug/graft-dependent-app"), &bin).unwrap();
    let out = Command::new(&bin)
        .arg(run_dir.join("certs"))
        .current_dir(&run_dir)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the app failed: {}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("OK version=") && stdout.contains("leader=Some(\"solo\")"), "{stdout}");

    // And it does not ask the dynamic loader for libgraft at all.
    let elf = std::fs::read(&bin).unwrap();
    assert!(!elf.windows(b"libgraft.so".len()).any(|w| w == b"libgraft.so"), "the binary names libgraft.so");
    println!("checked: a path-dependent crate's binary, copied away, runs without LD_LIBRARY_PATH: {}", stdout.trim());
}
