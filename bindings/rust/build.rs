//! Finds libgraft and links it into every binary that uses this crate.
//!
//! Where the library comes from, in order (the `-sys` convention: an
//! installed library first, a build from source last):
//!
//! 1. `GRAFT_LIB_DIR`: a folder holding `libgraft.a` (preferred) or
//!    `libgraft.so`. Trusted as is.
//! 2. pkg-config: the `graft` package (`make install` writes graft.pc;
//!    `PKG_CONFIG_PATH` finds one under another PREFIX), its `libdir`
//!    holding `libgraft.a` (preferred) or `libgraft.so`. `GRAFT_NO_PKG_CONFIG=1`
//!    skips this step.
//! 3. The last resort, when this crate sits in a graft checkout
//!    (`bindings/rust`): `go build -buildmode=c-archive ./capi` with its
//!    output in `OUT_DIR` (Go 1.26+ and a C compiler on PATH; about 25 s
//!    cold, 2-3 s warm). `-mod=readonly`: go.mod and go.sum are read, never
//!    rewritten; nothing is written into the source tree.
//!
//! Why the static archive: cargo passes `rustc-link-lib=static=...` on to
//! every crate that depends on this one (the archive is bundled into the
//! rlib), so any binary built from it runs without `LD_LIBRARY_PATH`. An
//! rpath set here would reach only this crate's own tests and examples
//! (see ../../shared/FFI-FACTS.md). Linking `libgraft.so` works too, but
//! then dependent binaries need the library on their search path: a
//! warning says so.
//!
//! It also compiles a tiny C program against graft.h (the checkout's, else
//! the installed one), when a C compiler is there, that prints the sizes,
//! offsets and codes of the C header; the unit tests compare them with the
//! `ffi` module.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the library was found: its folder, whether it is the static
/// archive, and the folder of the graft.h that goes with it (if known).
struct Found {
    dir: PathBuf,
    is_static: bool,
    include: Option<PathBuf>,
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    // The checkout this crate sits in, if it does (a packaged crate does not).
    let repo = manifest.join("../..");
    let repo = repo.canonicalize().unwrap_or(repo);
    let checkout = repo.join("capi").is_dir() && repo.join("go.mod").is_file();

    println!("cargo:rerun-if-changed=build.rs");
    for var in ["GRAFT_LIB_DIR", "GRAFT_NO_PKG_CONFIG", "PKG_CONFIG", "PKG_CONFIG_PATH", "GO", "CC"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let found = from_lib_dir().or_else(from_pkg_config).unwrap_or_else(|| from_checkout(&repo, checkout, &out));
    let dir = &found.dir;
    println!("cargo:rustc-link-search=native={}", dir.display());
    if found.is_static {
        println!("cargo:rerun-if-changed={}", dir.join("libgraft.a").display());
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

    // The checkout's header is the one the library of this checkout is
    // built from; an installed library comes with its own.
    let include = if checkout { Some(repo.join("include")) } else { found.include };
    header_facts(include.as_deref(), &out);
}

/// The library in `dir`: `libgraft.a` if there, else `libgraft.so`.
fn library_in(dir: PathBuf, include: Option<PathBuf>) -> Option<Found> {
    if dir.join("libgraft.a").is_file() {
        Some(Found { dir, is_static: true, include })
    } else if dir.join("libgraft.so").is_file() {
        Some(Found { dir, is_static: false, include })
    } else {
        None
    }
}

/// Step 1: `GRAFT_LIB_DIR`, which must hold the library when set.
fn from_lib_dir() -> Option<Found> {
    let dir = PathBuf::from(env::var_os("GRAFT_LIB_DIR").filter(|d| !d.is_empty())?);
    let include = Some(dir.join("../include")).filter(|i| i.join("graft.h").is_file());
    match library_in(dir.clone(), include) {
        Some(found) => Some(found),
        None => panic!("graft: GRAFT_LIB_DIR={} holds neither libgraft.a nor libgraft.so", dir.display()),
    }
}

/// Step 2: the `graft` pkg-config package, if pkg-config knows one.
fn from_pkg_config() -> Option<Found> {
    if env::var_os("GRAFT_NO_PKG_CONFIG").is_some_and(|v| !v.is_empty() && v != "0") {
        return None;
    }
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let variable = |name: &str| -> Option<PathBuf> {
        let o = Command::new(&pkg_config).args(["--variable", name, "graft"]).output().ok()?;
        let v = String::from_utf8(o.stdout).ok()?;
        let v = v.trim();
        (o.status.success() && !v.is_empty()).then(|| PathBuf::from(v))
    };
    let libdir = variable("libdir")?;
    let include = variable("includedir").filter(|i| i.join("graft.h").is_file());
    let found = library_in(libdir.clone(), include);
    if found.is_none() {
        println!(
            "cargo:warning=graft: pkg-config names {} as libgraft's folder, but it holds no libgraft: ignored",
            libdir.display()
        );
    }
    found
}

/// Step 3: build libgraft.a from the checkout into `out`.
fn from_checkout(repo: &Path, checkout: bool, out: &Path) -> Found {
    if !checkout {
        panic!(
            "graft: no libgraft found: install it (`make install` in a graft checkout puts \
             graft.pc where pkg-config finds it; PKG_CONFIG_PATH for another PREFIX) or set \
             GRAFT_LIB_DIR to a folder holding libgraft.a"
        );
    }
    for p in ["capi", "election", "transport", "include/graft.h", "go.mod", "go.sum"] {
        println!("cargo:rerun-if-changed={}", repo.join(p).display());
    }
    let go = env::var("GO").unwrap_or_else(|_| "go".into());
    let target = out.join("libgraft.a");
    let status = Command::new(&go)
        .current_dir(repo)
        .env("GOFLAGS", "-mod=readonly")
        .args(["build", "-buildmode=c-archive", "-ldflags=-s -w", "-o"])
        .arg(&target)
        .arg("./capi")
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "graft: no installed libgraft (GRAFT_LIB_DIR unset, pkg-config knows no graft) \
                 and `{go}` cannot run to build it from {} ({e}): install Go 1.26+, or run \
                 `make install` there, or set GRAFT_LIB_DIR",
                repo.display()
            )
        });
    if !status.success() {
        panic!("graft: `{go} build -buildmode=c-archive ./capi` in {} failed ({status})", repo.display());
    }
    let _ = fs::remove_file(out.join("libgraft.h")); // cgo's own header
    Found { dir: out.to_path_buf(), is_static: true, include: None }
}

/// Compile and run a C program printing what the `ffi` module must match;
/// write it as Rust constants to OUT_DIR/header_facts.rs. Without a C
/// compiler (or the header) the file says so and the test is skipped.
fn header_facts(include: Option<&Path>, out: &Path) {
    let Some(include) = include.filter(|i| i.join("graft.h").is_file()) else {
        return fallback_facts(out, "graft.h not found (no checkout, no installed header)");
    };
    let header = include.join("graft.h");
    println!("cargo:rerun-if-changed={}", header.display());

    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <graft.h>\n\
         #define P(name, v) printf(\"    (\\\"%s\\\", %lld),\\n\", name, (long long)(v))\n\
         #define OFF(f) P(\"offset.\" #f, offsetof(graft_stats, f))\n\
         #define EOFF(f) P(\"event_offset.\" #f, offsetof(graft_event, f))\n\
         #define C(x) P(#x, x)\nint main(void) {\n\
         printf(\"/// Measured from graft.h by build.rs.\\npub const FACTS: Option<&[(&str, i64)]> = Some(&[\\n\");\n\
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
        .arg(include)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return fallback_facts(out, &format!("`{cc}` could not compile {}", src.display()));
    }
    match Command::new(&exe).output() {
        Ok(o) if o.status.success() => fs::write(out.join("header_facts.rs"), o.stdout).unwrap(),
        _ => fallback_facts(out, "the probe program failed"),
    }
}

/// Write a header_facts.rs that says nothing was measured, and why.
fn fallback_facts(out: &Path, why: &str) {
    println!("cargo:warning=graft: header layout check skipped: {why}");
    fs::write(
        out.join("header_facts.rs"),
        "/// Not measured (no C compiler or header).\npub const FACTS: Option<&[(&str, i64)]> = None;\n",
    )
    .unwrap();
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
    "callbacks_dropped",
    "rank",
    "reserved1",
    "priority_takeovers",
    "successor",
];

/// Every field of graft_event (checked against `ffi::graft_event`).
const EVENT_FIELDS: &[&str] = &["size", "kind", "from", "to", "term", "deadline_ns", "leader", "at_ns"];

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
    "GRAFT_EHOOK",
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
