# mk/sim.mk - the election simulator's families of schedules, without the
# race detector (make test-go runs them under -race at small counts).
# Included by the top-level Makefile.
#
#   make test-sim  TestSimFamilies: 40,000 schedules (2,500 of each family,
#                  20,000 of fresh-restart) aimed at the risky moments of the
#                  election, invariants after every step, liveness after the
#                  heal; about a minute on 2 cores. Part of make test.
#   make soak      SOAK_SCHEDULES (1,000,000) schedules split evenly across
#                  the families, seeds from SOAK_FIRST (1); prints per family
#                  the schedules, failures by kind and time, and a replay
#                  command for each of the first failures. About 25 minutes
#                  on 2 cores.
#
# SIM_FLAGS passes more flags, e.g. SIM_FLAGS='-sim.family=fresh-restart'
# (one family), SIM_FLAGS='-sim.per-family=10000'.

SOAK_SCHEDULES ?= 1000000
SOAK_FIRST     ?= 1
SIM_FLAGS      ?=

.PHONY: test-sim
test-sim: check-go ## simulator families without -race: 40,000 schedules at the risky moments, ~1 min
	$(GO) test -count=1 -timeout 1200s -run '^TestSimFamilies$$' ./election/ -v $(SIM_FLAGS)

.PHONY: soak
soak: check-go ## SOAK_SCHEDULES (1,000,000) simulator schedules across the families from SOAK_FIRST; counts, failures, time
	$(GO) test -count=1 -timeout 0 -run '^TestSimFamilies$$' ./election/ -v -sim.total=$(SOAK_SCHEDULES) -sim.first=$(SOAK_FIRST) $(SIM_FLAGS)
