# mk/rust.mk - the Rust binding (bindings/rust, crate `graft`, std only).
# Included by the top-level Makefile (CARGO and BUILD come from there).
#
#   make test-rust    unit, integration and doc tests (cargo test --offline)
#   make bench-rust   ns per query and event-to-closure latency (release build)
#
# The crate links build/libgraft.a statically (GRAFT_LIB_DIR points at it), so
# every binary it produces, also those of crates depending on it, runs on
# its own. Without GRAFT_LIB_DIR, bindings/rust/build.rs asks pkg-config for
# an installed graft (make install), else builds the archive with go into
# cargo's OUT_DIR.

RUST_DIR := bindings/rust
RUST_ENV := GRAFT_LIB_DIR=$(abspath $(BUILD))

.PHONY: test-rust
test-rust: deps-rust lib ## Rust binding tests (cargo test --offline, doc tests included)
	cd $(RUST_DIR) && $(RUST_ENV) $(CARGO) test --offline
	cd $(RUST_DIR) && $(RUST_ENV) $(CARGO) doc --offline --no-deps --quiet

.PHONY: bench-rust
bench-rust: deps-rust lib ## Rust binding: ns per query, event-to-closure latency
	cd $(RUST_DIR) && $(RUST_ENV) $(CARGO) run --offline --release --quiet --example bench

.PHONY: examples-rust
examples-rust: deps-rust lib ## build the Rust examples (bindings/rust/examples)
	cd $(RUST_DIR) && $(RUST_ENV) $(CARGO) build --offline --examples
