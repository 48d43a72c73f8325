//! A callback that panics while the process's stderr is a closed pipe.
//!
//! The trampolines used to print the caught panic with `eprintln!`, outside
//! `catch_unwind`: the write failed with EPIPE, `eprintln!` panicked, and a
//! panic cannot unwind out of an `extern "C"` callback, so the process
//! aborted (issue 19). The reporting path must never panic. The node runs in
//! a child process (this test binary again) whose stderr is a pipe closed
//! by the parent before the child writes a byte.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use graft::State;

const CHILD_ENV: &str = "GRAFT_TEST_STDERR_CLOSED_CHILD";
const T: Duration = Duration::from_secs(10);

/// The child: a single node whose state and leader callbacks panic.
fn child() -> ! {
    let c = Cluster::new("stderr-closed", 1);
    let node = c
        .builder(0)
        .on_state_change(|_, to, _| {
            if to == State::Leader {
                panic!("deliberate panic in on_state_change");
            }
        })
        .on_leader_change(|_, _| panic!("deliberate panic in on_leader_change"))
        .start()
        .unwrap();
    wait_until("two panics caught", T, || node.callback_panics() >= 2);
    let panics = node.callback_panics();
    node.close().unwrap();
    println!("CHILD OK: {panics} panics caught with stderr closed");
    std::process::exit(0);
}

#[test]
fn panicking_callback_with_stderr_closed_does_not_abort() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
    }
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "panicking_callback_with_stderr_closed_does_not_abort", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(proc.stderr.take()); // the read end: every write to stderr now fails with EPIPE
    let mut out = String::new();
    proc.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let status = proc.wait().unwrap();
    assert!(status.success(), "child ended with {status:?}; stdout:\n{out}");
    assert!(out.contains("CHILD OK"), "stdout:\n{out}");
    let said = &out[out.find("CHILD OK").unwrap()..];
    println!("checked: {}", said.lines().next().unwrap());
}
