# graft — Raft leader election for C, Python, Rust and Go programs.
#
#   make demo    a real 3-node cluster on loopback: failover and handover, library and graft run
#   make test    every test in every language (Go with -race, C, Python, Rust)
#   make help    every target
#
# Each part of the build lives in a fragment under mk/ (capi.mk, python.mk,
# rust.mk, ...); this file holds what they share and the umbrella targets.

GO      ?= go
CC      ?= cc
CARGO   ?= cargo
PYTHON  ?= /usr/bin/python3
BUILD   ?= build
PREFIX  ?= /usr/local

export GOFLAGS ?= -mod=mod
# Go 1.26 or newer is the only hard requirement we cannot install.
GO_OK := $(shell $(GO) version >/dev/null 2>&1 && echo yes)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@echo "graft: make <target>"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

.PHONY: check-go
check-go:
	@test "$(GO_OK)" = yes || { echo "graft: needs Go 1.26+ on PATH (https://go.dev/dl/)"; exit 1; }
	@command -v $(CC) >/dev/null || { echo "graft: needs a C compiler ($(CC)) for cgo"; exit 1; }

# apt-get installs what a test needs when we run as root; otherwise we say
# what is missing and stop (never skip a test silently).
APT_INSTALL = if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "graft: installing $(1) with apt-get"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	else echo "graft: missing $(1): install it (Debian: sudo apt-get install $(1))"; exit 1; fi

.PHONY: deps-python
deps-python:
	@$(PYTHON) -c 'import pytest' 2>/dev/null || { $(call APT_INSTALL,python3-pytest); }
	@$(PYTHON) -c 'import pytest' || { echo "graft: $(PYTHON) cannot import pytest"; exit 1; }

.PHONY: deps-rust
deps-rust:
	@command -v $(CARGO) >/dev/null || { echo "graft: needs cargo (Rust) on PATH: https://rustup.rs"; exit 1; }

.PHONY: test-go
test-go: check-go vet ## Go tests (graft.Start, election, transport, the fault checker) with -race, after make vet
	$(GO) test -race -count=1 -timeout 600s . ./election/... ./transport/... ./tests/faults/checker/...

.PHONY: test
test: ## run every test: Go (-race), the simulator families, the explorer, C, Python, Rust, the graft command, the Kubernetes example and image, the README quick starts
	@$(MAKE) --no-print-directory test-go
	@$(MAKE) --no-print-directory test-sim
	@$(MAKE) --no-print-directory test-explore
	@$(MAKE) --no-print-directory test-c
	@$(MAKE) --no-print-directory test-python
	@$(MAKE) --no-print-directory test-rust
	@$(MAKE) --no-print-directory test-cmd
	@$(MAKE) --no-print-directory test-kubernetes
	@$(MAKE) --no-print-directory test-quickstart
	@echo "graft: all tests passed"

.PHONY: test-quickstart
test-quickstart: certs deps-python deps-rust ## run the README quick starts (C, Python, Rust, Go) as 3-node clusters
	tests/quickstart/run.sh $(BUILD)

.PHONY: demo
demo: check-go examples-c graft ## a real 3-node cluster on loopback, the library then graft run: kill, failover, pause, handover (~15 s)
	$(GO) run ./examples/demo -bin $(BUILD)

CERT_IDS ?= n1 n2 n3
.PHONY: certs
certs: examples-c ## dev certificates for CERT_IDS="n1 n2 n3" into $(BUILD)/certs
	$(BUILD)/gencerts $(BUILD)/certs $(CERT_IDS)

.PHONY: vet
vet: check-go ## go vet of every package (capi's test build too) and gofmt of every folder
	$(GO) vet ./...
	$(GO) vet -tags grafttest ./capi/
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BUILD) bindings/rust/target bindings/python/build bindings/python/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

-include mk/*.mk
