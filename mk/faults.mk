# mk/faults.mk - fault injection across real processes and networks
# (tests/faults). Included by the top-level Makefile.
#
#   make test-faults                       60 schedules (3- and 5-node; about 5.5 min on 2
#                                          cores, 5.4 s each), then the
#                                          no-check-quorum run that must fail the checker,
#                                          then the release-build check, then the
#                                          graft-run mode: 8.5 min in all
#   make test-faults SCHEDULES=200 SEED=7  more schedules, from a chosen seed
#   make test-faults-nocq                  only the check-quorum-disabled run
#   make test-faults-release               only the release-build check: with both
#                                          GRAFT_TEST_* variables set, nodes linked against
#                                          build/libgraft.so still step an isolated leader
#                                          down; the same run against the test build must not
#   make test-faults-run                   only the graft-run mode: RUN_SCHEDULES (24,
#                                          about 2.5 min) schedules with `graft run` in each
#                                          namespace and tests/faults/child.c as its
#                                          command; the children's own logged lifetimes
#                                          must never overlap between nodes
#   make test-faults-checker               the checker's unit tests (no root needed)
#
# Needs root, iproute2 (`ip netns`) and iptables (installed with apt-get
# when missing and root). Without them it fails and says what it needs.
# A failing schedule prints its seed, its logs and the command replaying it.

GO    ?= go
CC    ?= cc
BUILD ?= build

SCHEDULES       ?= 60
SEED            ?= 0
NOCQ_SCHEDULES  ?= 3
HOOKS_SCHEDULES ?= 2
RUN_SCHEDULES   ?= 24
# How late a lease loss due at its deadline may be queued for its
# callback, counted from the deadline or from when the node's process ran
# again after it (the checker's TimerSlack). The timer's median is 0.3-0.7
# ms; on this 2-core machine shared with other jobs (load 5-20) single
# losses were queued 12-36 ms late after their process ran again, and
# 77-340 ms late at load 12-20 while it ran (cause not found: a blocked
# election loop, an fsync, the Go scheduler of a starved process). The
# default, 250 ms (about 2 x ElectionMin here), keeps a timer that never
# fires from passing while such a machine does not fail the run; the exact
# contract (the loss at the deadline itself) is checked by the simulator
# after every step. Every lateness is reported (median, p99, max); use
# LOST_SLACK=10ms on a quiet machine.
LOST_SLACK      ?= 250ms
FAULTS_DIR      ?= /tmp/graft-faults

FAULTS_CFLAGS := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2
FAULTS_GO_SRC := $(wildcard tests/faults/harness/*.go tests/faults/checker/*.go) go.mod

# The node links the TEST build of the library (mk/capi.mk, lib-test),
# the only one that honours GRAFT_TEST_CLOCK_RATE and
# GRAFT_TEST_DISABLE_CHECK_QUORUM.
TEST_LIB_DIR ?= $(BUILD)/test
FAULTS_NODE := $(TEST_LIB_DIR)/faults-node

$(FAULTS_NODE): tests/faults/node.c include/graft.h $(TEST_LIB_DIR)/libgraft.so.0
	$(CC) $(FAULTS_CFLAGS) -Iinclude -o $@ $< -L$(TEST_LIB_DIR) -lgraft -Wl,-rpath,$(abspath $(TEST_LIB_DIR)) -lpthread

# The same program linked against the released library, for
# test-faults-release; START logs rate=1 since that library ignores it.
FAULTS_NODE_RELEASE := $(TEST_LIB_DIR)/faults-node-release

$(FAULTS_NODE_RELEASE): tests/faults/node.c include/graft.h $(BUILD)/libgraft.so.0
	@mkdir -p $(TEST_LIB_DIR)
	$(CC) $(FAULTS_CFLAGS) -DGRAFT_FAULTS_RELEASE_LIB -Iinclude -o $@ $< -L$(BUILD) -lgraft -Wl,-rpath,$(abspath $(BUILD)) -lpthread

# The command of the graft-run mode: no library, it only writes down its
# own life.
FAULTS_CHILD := $(TEST_LIB_DIR)/faults-child

$(FAULTS_CHILD): tests/faults/child.c
	@mkdir -p $(TEST_LIB_DIR)
	$(CC) $(FAULTS_CFLAGS) -o $@ $<

$(BUILD)/faults-harness: $(FAULTS_GO_SRC)
	@mkdir -p $(BUILD)
	$(GO) build -o $@ ./tests/faults/harness

.PHONY: faults-deps
faults-deps:
	@[ "$$(id -u)" = 0 ] || { echo "graft: test-faults needs root (network namespaces, veth, iptables): run it with sudo"; exit 1; }
	@ip netns list >/dev/null 2>&1 || { echo "graft: test-faults needs 'ip netns' (iproute2) and a kernel with network namespaces"; exit 1; }
	@command -v iptables >/dev/null || { $(call APT_INSTALL,iptables nftables); }
	@command -v iptables >/dev/null || { echo "graft: test-faults needs iptables"; exit 1; }

.PHONY: test-faults-checker
test-faults-checker: check-go ## unit tests of the fault checker (synthetic logs)
	$(GO) test -count=1 ./tests/faults/...

.PHONY: test-faults
test-faults: check-go faults-deps $(FAULTS_NODE) $(BUILD)/faults-harness test-faults-checker ## fault injection: processes in netns, checker (root)
	$(BUILD)/faults-harness -node $(FAULTS_NODE) -schedules $(SCHEDULES) -seed $(SEED) -timer-slack $(LOST_SLACK) -dir $(FAULTS_DIR) -replay "make test-faults SCHEDULES=1"
	@$(MAKE) --no-print-directory test-faults-nocq SEED=$(SEED)
	@$(MAKE) --no-print-directory test-faults-release SEED=$(SEED) LOST_SLACK=$(LOST_SLACK)
	@$(MAKE) --no-print-directory test-faults-run SEED=$(SEED)

.PHONY: test-faults-nocq
test-faults-nocq: check-go faults-deps $(FAULTS_NODE) $(BUILD)/faults-harness ## the checker must catch dual leaders without check-quorum (root)
	$(BUILD)/faults-harness -node $(FAULTS_NODE) -nocq -schedules $(NOCQ_SCHEDULES) -seed $(SEED) -dir $(FAULTS_DIR)-nocq -replay "make test-faults-nocq NOCQ_SCHEDULES=1"

.PHONY: test-faults-release
test-faults-release: check-go faults-deps $(FAULTS_NODE) $(FAULTS_NODE_RELEASE) $(BUILD)/faults-harness ## the released library ignores GRAFT_TEST_* (root)
	$(BUILD)/faults-harness -node $(FAULTS_NODE_RELEASE) -hooks ignored -schedules $(HOOKS_SCHEDULES) -seed $(SEED) -timer-slack $(LOST_SLACK) -dir $(FAULTS_DIR)-release -replay "make test-faults-release HOOKS_SCHEDULES=1"
	$(BUILD)/faults-harness -node $(FAULTS_NODE) -hooks honoured -schedules $(HOOKS_SCHEDULES) -seed $(SEED) -timer-slack $(LOST_SLACK) -dir $(FAULTS_DIR)-testbuild -replay "make test-faults-release HOOKS_SCHEDULES=1"

.PHONY: test-faults-run
test-faults-run: check-go faults-deps $(BUILD)/graft $(FAULTS_CHILD) $(BUILD)/faults-harness ## graft run in each namespace: the commands' lifetimes never overlap (root)
	$(BUILD)/faults-harness -graft $(BUILD)/graft -child $(FAULTS_CHILD) -schedules $(RUN_SCHEDULES) -seed $(SEED) -dir $(FAULTS_DIR)-run -replay "make test-faults-run RUN_SCHEDULES=1"
