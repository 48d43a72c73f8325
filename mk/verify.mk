# mk/verify.mk - the explorer: a model checker over the real election core
# (election/explore_test.go, docs/verification.md). Included by the
# top-level Makefile.
#
#   make test-explore   the bounds make test runs: under 2 minutes on 2 cores
#   make verify         deeper bounds: several searches, minutes each
#
# Each run prints the states explored, the deepest path, the deviations
# and the time; a violation prints its counterexample as a transcript.
# The explorer runs without -race (the race detector makes it ten times
# slower and it has no goroutines to check); TestExplore skips itself
# under -race and without -explore.depth, so go test -race ./election/...
# does not run it.

GO ?= go

EXPLORE = $(GO) test -count=1 -timeout 60m -run '^TestExplore$$' ./election/ -v

# make test: every schedule of 3 nodes (terms up to 3, up to 6 messages in
# flight) that departs from the healthy one at most 3 times, with up to one
# crash, one handover (StepDown or Close) and one duplicated message.
EXPLORE_TEST_FLAGS ?= -explore.depth=200 -explore.deviations=3 \
	-explore.crashes=1 -explore.handovers=1 -explore.dups=1 -explore.cuts=0

.PHONY: test-explore
test-explore: check-go ## the explorer at make test's bounds (3 nodes, 3 deviations from the healthy schedule)
	$(EXPLORE) $(EXPLORE_TEST_FLAGS)

.PHONY: verify
verify: check-go ## the explorer at deeper bounds: 4 deviations with a cut, and every interleaving of 10 choices
	$(EXPLORE) -explore.depth=200 -explore.deviations=4 -explore.crashes=1 -explore.handovers=0 -explore.dups=0 -explore.cuts=1
	$(EXPLORE) -explore.depth=200 -explore.deviations=4 -explore.crashes=0 -explore.handovers=1 -explore.dups=1 -explore.cuts=0
	$(EXPLORE) -explore.depth=10 -explore.start=leader
