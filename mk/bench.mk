# mk/bench.mk - benchmarks (bench/, its own Go module, so that graft itself
# does not depend on the libraries it is compared with). Included by the
# top-level Makefile.
#
#   make bench            failover, handover, disruption, idle cost, first
#                         leader, memory, API cost, the comparison with
#                         nats-io/graft and hashicorp/raft (interleaved, with
#                         bootstrap intervals), and the goal rows of issues
#                         16 (failover, the leader and its first successor
#                         killed together, the comparison's ratios),
#                         13 (events: lease loss and wake-up as C
#                         and Python programs get them), 14 (run: graft run's
#                         leader faults, start delay, cost at rest) and 18
#                         (flood: a stranger floods the leader); about 20
#                         minutes on 2 cores. Writes docs/bench/results.json,
#                         results.md and *.png, prints the Markdown table.
#                         BENCH_FLAGS passes flags (see go run ./cmd/bench -h),
#                         e.g. BENCH_FLAGS='-trials 100 -cmp-trials 50', or
#                         BENCH_FLAGS='-only events,run,flood' for a part
#                         (results.json keeps the other sections).
#   make bench-stability  10 minutes idle, 3 nodes, default timings, 20 ms
#                         +- 10 ms between the nodes (a userspace UDP relay:
#                         no tc netem here); counts spurious leader changes.
#                         STABILITY_FLAGS='-duration 1m' runs it shorter.

BENCH_OUT       ?= docs/bench
BENCH_FLAGS     ?=
STABILITY_FLAGS ?=

.PHONY: bench
bench: lib examples-c graft ## benchmarks, comparison, goal rows of issues 13/14/16/18, charts (docs/bench), ~15 min
	cd bench && $(GO) run ./cmd/bench -out $(abspath $(BENCH_OUT)) -worker $(abspath $(BUILD)/leader_worker) \
	  -root $(CURDIR) -go $(GO) -graft $(abspath $(BUILD)/graft) -python $(PYTHON) $(BENCH_FLAGS)

.PHONY: bench-stability
bench-stability: ## 10-minute idle 3-node run with 20+-10 ms relay delay: spurious leader changes
	cd bench && $(GO) run ./cmd/stability -out $(abspath $(BENCH_OUT)) -go $(GO) $(STABILITY_FLAGS)
