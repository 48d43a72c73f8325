//! Finds libgraft and links it into every binary that uses this crate.
//!
//! Where the library comes from, in order:
//!
//! 1. `GRAFT_LIB_DIR`: a folder holding `libgraft.a` (preferred) or
//!    `libgraft.so`. Trusted as is.
//! 2. The checkout's build folder (`../../build` from this manifest), if its
//!    `libgraft.a` is newer than every Go source.
//! 3. Otherwise `go build -buildmode=c-archive ./capi` into `OUT_DIR`
//!    (Go 1.26+ and a C compiler on PATH; about 25 s cold, 2-3 s warm).
//!
//! Why the static archive: cargo passes `rustc-link-lib=static=...` on to
//! every crate that depends on this one (the archive is bundled into the
//! rlib), so any binary built from it runs without `LD_LIBRARY_PATH`. An
//! rpath set here would reach only this crate's own tests and examples
//! (see ../../shared/FFI-FACTS.md). Linking `libgraft.so` from
//! `GRAFT_LIB_DIR` works too, but then dependent binaries need the library
//! on their search path: a warning says so.
//!
//! It also compiles a tiny C program against include/graft.h, when a C
//! compiler is there, that prints the sizes, offsets and codes of the C
//! header; the unit tests compare them with the `ffi` module.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let repo = manifest.join("../..");
    let repo = repo.canonicalize().unwrap_or(repo);

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GRAFT_LIB_DIR");
    println!("cargo:rerun-if-env-changed=GO");
    println!("cargo:rerun-if-env-changed=CC");
    let go_src = go_sources(&repo);
    for p in &go_src {
        println!("cargo:rerun-if-changed={}", p.display());
    }

    let (dir, kind) = find_library(&repo, &out, &go_src);
    println!("cargo:rustc-link-search=native={}", dir.display());
    if kind == "static" {
        let a = dir.join("libgraft.a");
        println!("cargo:rerun-if-changed={}", a.display());
        println!("cargo:rustc-link-lib=static=graft");
        // What a Go c-archive needs from the system (the Rust std already
        // links libc, pthread, dl and m; listed anyway so the order is right).
        for lib in ["pthread", "dl", "m", "resolv"] {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    } else {
        println!("cargo:rerun-if-changed={}", dir.join("libgraft.so").display());
        println!("cargo:rustc-link-lib=dylib=graft");
        // Reaches this crate's tests and examples only, not dependent crates.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        println!(
            "cargo:warning=graft: linking the shared library {}/libgraft.so: binaries of crates \
             depending on graft need it on their search path (LD_LIBRARY_PATH or ldconfig); \
             put libgraft.a there to link statically",
            dir.display()
        );
    }
    println!("cargo:lib_dir={}", dir.display());

    header_facts(&repo, &out);
}

/// The Go sources the library is built from (folders and files).
fn go_sources(repo: &Path) -> Vec<PathBuf> {
    ["capi", "election", "transport", "include/graft.h", "go.mod", "go.sum"]
        .iter()
        .map(|p| repo.join(p))
        .filter(|p| p.exists())
        .collect()
}

/// Newest modification time of the Go sources (recursing into folders,
/// skipping tests).
fn newest(paths: &[PathBuf]) -> Option<SystemTime> {
    fn walk(p: &Path, best: &mut Option<SystemTime>) {
        let Ok(meta) = fs::metadata(p) else { return };
        if meta.is_dir() {
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), best);
                }
            }
        } else if p.to_string_lossy().ends_with("_test.go") {
            // Tests are not part of the library.
        } else if let Ok(t) = meta.modified() {
            if best.map_or(true, |b| t > b) {
                *best = Some(t);
            }
        }
    }
    let mut best = None;
    for p in paths {
        walk(p, &mut best);
    }
    best
}

fn find_library(repo: &Path, out: &Path, go_src: &[PathBuf]) -> (PathBuf, &'static str) {
    if let Some(dir) = env::var_os("GRAFT_LIB_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.join("libgraft.a").is_file() {
            return (dir, "static");
        }
        if dir.join("libgraft.so").is_file() {
            return (dir, "dylib");
        }
        panic!("graft: GRAFT_LIB_DIR={} holds neither libgraft.a nor libgraft.so", dir.display());
    }

    let build = repo.join("build");
    let archive = build.join("libgraft.a");
    if archive.is_file() {
        let built = fs::metadata(&archive).and_then(|m| m.modified()).ok();
        match (built, newest(go_src)) {
            (Some(b), Some(src)) if b >= src => return (build, "static"),
            (Some(_), None) => return (build, "static"),
            _ => println!("cargo:warning=graft: {} is older than the Go sources: rebuilding", archive.display()),
        }
    }

    if !repo.join("capi").is_dir() {
        panic!(
            "graft: no libgraft found: set GRAFT_LIB_DIR to a folder holding libgraft.a \
             (built by `make lib` in the graft checkout)"
        );
    }
    let go = env::var("GO").unwrap_or_else(|_| "go".into());
    let target = out.join("libgraft.a");
    let status = Command::new(&go)
        .current_dir(repo)
        .env("GOFLAGS", env::var("GOFLAGS").unwrap_or_else(|_| "-mod=mod".into()))
        .args(["build", "-buildmode=c-archive", "-ldflags=-s -w", "-o"])
        .arg(&target)
        .arg("./capi")
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "graft: libgraft not built and `{go}` cannot run ({e}): install Go 1.26+ \
                 or run `make lib`, or set GRAFT_LIB_DIR"
            )
        });
    if !status.success() {
        panic!("graft: `{go} build -buildmode=c-archive ./capi` failed ({status})");
    }
    let _ = fs::remove_file(out.join("libgraft.h")); // cgo's own header
    (out.to_path_buf(), "static")
}

/// Compile and run a C program printing what the `ffi` module must match;
/// write it as Rust constants to OUT_DIR/header_facts.rs. Without a C
/// compiler (or the header) the file says so and the test is skipped.
fn header_facts(repo: &Path, out: &Path) {
    let header = repo.join("include/graft.h");
    let dest = out.join("header_facts.rs");
    let fallback = |why: &str| {
        println!("cargo:warning=graft: header layout check skipped: {why}");
        fs::write(
            &dest,
            "/// Not measured (no C compiler or header).\npub const FACTS: Option<&[(&str, i64)]> = None;\n",
        )
        .unwrap();
    };
    if !header.is_file() {
        return fallback("include/graft.h not found");
    }
    println!("cargo:rerun-if-changed={}", header.display());

    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <graft.h>\n\
         #define P(name, v) printf(\"    (\\\"%s\\\", %lld),\\n\", name, (long long)(v))\n\
         #define OFF(f) P(\"offset.\" #f, offsetof(graft_stats, f))\n\
         #define EOFF(f) P(\"event_offset.\" #f, offsetof(graft_event, f))\n\
         #define C(x) P(#x, x)\nint main(void) {\n\
         printf(\"/// Measured from include/graft.h by build.rs.\\npub const FACTS: Option<&[(&str, i64)]> = Some(&[\\n\");\n\
         P(\"sizeof\", sizeof(graft_stats));\nP(\"alignof\", _Alignof(graft_stats));\n\
         P(\"event_sizeof\", sizeof(graft_event));\nP(\"event_alignof\", _Alignof(graft_event));\n",
    );
    for f in STATS_FIELDS {
        c.push_str(&format!("OFF({f});\n"));
    }
    for f in EVENT_FIELDS {
        c.push_str(&format!("EOFF({f});\n"));
    }
    for k in CONSTS {
        c.push_str(&format!("C({k});\n"));
    }
    c.push_str("printf(\"]);\\n\");\nreturn 0;\n}\n");
    let src = out.join("header_facts.c");
    let exe = out.join("header_facts");
    fs::write(&src, c).unwrap();
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let ok = Command::new(&cc)
        .arg("-std=c11")
        .arg("-I")
        .arg(repo.join("include"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return fallback(&format!("`{cc}` could not compile {}", src.display()));
    }
    match Command::new(&exe).output() {
        Ok(o) if o.status.success() => fs::write(&dest, o.stdout).unwrap(),
        _ => fallback("the probe program failed"),
    }
}

/// Every field of graft_stats (checked against `ffi::graft_stats`).
const STATS_FIELDS: &[&str] = &[
    "size",
    "state",
    "reserved0",
    "term",
    "leader",
    "prevotes_started",
    "prevotes_lost",
    "elections_started",
    "elections_won",
    "leader_changes",
    "step_downs",
    "transfers",
    "storage_errors",
    "callbacks_queued",
    "since_leader_contact_ns",
    "msgs_sent",
    "msgs_received",
    "msgs_dropped",
    "net_msgs_sent",
    "net_bytes_sent",
    "net_msgs_received",
    "net_bytes_received",
    "net_reconnects",
    "drop_malformed",
    "drop_wrong_cluster",
    "drop_bad_version",
    "drop_oversized",
    "drop_spoofed_sender",
    "drop_unknown_peer",
    "drop_handshake_failed",
    "drop_queue_full",
    "drop_invalid_packet",
    "callback_delay_last_ns",
    "callback_delay_max_ns",
];

/// Every field of graft_event (checked against `ffi::graft_event`).
const EVENT_FIELDS: &[&str] = &["size", "kind", "from", "to", "term", "deadline_ns", "leader"];

/// Every constant of the header the binding mirrors.
const CONSTS: &[&str] = &[
    "GRAFT_OK",
    "GRAFT_EINVAL",
    "GRAFT_ECLOSED",
    "GRAFT_ESTORAGE",
    "GRAFT_ETLS",
    "GRAFT_ENETWORK",
    "GRAFT_ERANGE",
    "GRAFT_EBUSY",
    "GRAFT_ENOTLEADER",
    "GRAFT_EFORK",
    "GRAFT_EINTERNAL",
    "GRAFT_ENOPEER",
    "GRAFT_FOLLOWER",
    "GRAFT_CANDIDATE",
    "GRAFT_LEADER",
    "GRAFT_CLOSED",
    "GRAFT_LOG_DEBUG",
    "GRAFT_LOG_INFO",
    "GRAFT_LOG_WARN",
    "GRAFT_LOG_ERROR",
    "GRAFT_EVENT_STATE",
    "GRAFT_EVENT_LEADER",
    "GRAFT_EVENT_LEASE_ACQUIRED",
    "GRAFT_EVENT_LEASE_LOST",
    "GRAFT_EVENT_OVERFLOW",
    "GRAFT_MSG_PREVOTE",
    "GRAFT_MSG_PREVOTE_RESP",
    "GRAFT_MSG_VOTE",
    "GRAFT_MSG_VOTE_RESP",
    "GRAFT_MSG_HEARTBEAT",
    "GRAFT_MSG_HEARTBEAT_RESP",
    "GRAFT_MSG_TIMEOUT_NOW",
    "GRAFT_MSG_KIND_SLOTS",
    "GRAFT_ID_MAX",
    "GRAFT_POSITION_MAX",
    "GRAFT_VERSION_MAJOR",
    "GRAFT_VERSION_MINOR",
    "GRAFT_VERSION_PATCH",
];
