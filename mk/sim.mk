# mk/sim.mk - the election simulator's families of schedules, without the
# race detector (make test-go runs them under -race at small counts).
# Included by the top-level Makefile.
#
#   make test-sim  TestSimFamilies: 45,000 schedules (2,500 of each family,
#                  20,000 of fresh-restart) aimed at the risky moments of the
#                  election, invariants after every step, liveness after the
#                  heal; 30 s on 2 idle cores (80 s with the machine
#                  loaded).
#   make soak      SOAK_SCHEDULES (1,000,000) schedules split evenly across
#                  the families (111,112 each), seeds from SOAK_FIRST (1);
#                  prints per family the schedules, failures by kind and
#                  time, and a replay command for each of the first
#                  failures. 25m46s on 2 cores shared with other work (load
#                  average 6-10): 1,000,008 schedules, 0 failures.
#
# SIM_FLAGS passes more flags, e.g. SIM_FLAGS='-sim.family=fresh-restart'
# (one family), SIM_FLAGS='-sim.per-family=10000'.

SOAK_SCHEDULES ?= 1000000
SOAK_FIRST     ?= 1
SIM_FLAGS      ?=

.PHONY: test-sim
test-sim: check-go ## simulator families without -race: 45,000 schedules at the risky moments, 35-125 s
	$(GO) test -count=1 -timeout 1200s -run '^TestSimFamilies$$' ./election/ -v $(SIM_FLAGS)

.PHONY: soak
soak: check-go ## SOAK_SCHEDULES (1,000,000) simulator schedules across the families from SOAK_FIRST, ~26 min
	$(GO) test -count=1 -timeout 0 -run '^TestSimFamilies$$' ./election/ -v -sim.total=$(SOAK_SCHEDULES) -sim.first=$(SOAK_FIRST) $(SIM_FLAGS)
