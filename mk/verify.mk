# mk/verify.mk - the explorer: a model checker over the real election core
# (election/explore_test.go; docs/verification.md says what it covers).
# Included by the top-level Makefile.
#
#   make test-explore   the bounds make test runs: about 2-3 minutes on 2 cores
#   make verify         deeper bounds: 45 minutes on 2 cores at load 1 (it is
#                       CPU-heavy: flock /tmp/graft-measure.lock make verify
#                       on a machine where others measure timings)
#   make verify-more    a search left out of make verify for its time
#
# Each search prints the states explored, the deepest path, the deviations
# and the time; a violation prints its counterexample as a transcript.
# The explorer runs without -race (it would be ten times slower, and its
# goroutines share only a locked table); TestExplore skips itself under
# -race and without -explore.depth, so go test -race ./election/... does
# not run it.

GO ?= go

# -explore.depth is only a guard in a deviation search: its paths end when
# their states repeat, and one that reaches the depth fails the test (the
# search would not be complete). The priority searches need more than 200:
# a run of acknowledgements takes PriorityStablePeriod to count, 9 heartbeat
# rounds of 6 choices each at 450 ms, and a deviation can restart it
# (deepest path 268 at 3 deviations).
EXPLORE = $(GO) test -count=1 -timeout 60m -run '^TestExplore$$' ./election/ -v -explore.depth=1000

# Every search: 3 nodes, terms up to 3, every assignment of slow (1-1%)
# and fast (1+1%) clocks. -explore.deviations=K: every schedule that
# departs at most K times from the healthy one; the other flags are the
# fault budgets of a path.
EXPLORE_F1 = -explore.start=fresh -explore.deviations=3 \
	-explore.crashes=1 -explore.handovers=1 -explore.dups=1 -explore.pauses=0 -explore.cuts=0
EXPLORE_F2 = -explore.start=leader -explore.deviations=4 -explore.inflight=4 \
	-explore.crashes=1 -explore.handovers=0 -explore.dups=0 -explore.pauses=1 -explore.cuts=0
# Issue 16: priorities 1 and 2 and a witness; a stable period of
# ElectionMax, so that the healthy schedule's leader of priority 1 hands
# over to the node of priority 2 within the depth.
EXPLORE_F3 = -explore.start=leader -explore.deviations=2 -explore.inflight=4 \
	-explore.priorities=1,2,0 -explore.stable=450ms \
	-explore.crashes=1 -explore.handovers=1 -explore.dups=0 -explore.pauses=0 -explore.cuts=0

.PHONY: test-explore
test-explore: check-go ## the explorer at make test's bounds (3 nodes; 3 deviations from a fresh cluster, 4 from a leader, 2 with priorities and a witness)
	$(EXPLORE) $(EXPLORE_F1)
	$(EXPLORE) $(EXPLORE_F2)
	$(EXPLORE) $(EXPLORE_F3)

.PHONY: verify
verify: check-go ## the explorer at deeper bounds, about 45 min on 2 cores (4 deviations from a fresh cluster; every interleaving of 8 choices; priorities and witnesses from a leader at 3 and 4 deviations and from a fresh cluster at 3; 4 nodes at 4 deviations)
	$(EXPLORE) $(VERIFY_F1)
	$(EXPLORE) $(VERIFY_ALL)
	$(GO) test -count=1 -timeout 60m -run '^TestExplore$$' ./election/ -v -explore.depth=8 -explore.start=leader \
		-explore.crashes=1 -explore.handovers=1 -explore.dups=1 -explore.pauses=1 -explore.cuts=1
	$(EXPLORE) $(VERIFY_P1)
	$(EXPLORE) $(VERIFY_P2)
	$(EXPLORE) $(VERIFY_P3)
	$(EXPLORE) $(VERIFY_FP)
	$(EXPLORE) $(VERIFY_N4)

.PHONY: verify-more
verify-more: check-go ## searches left out of make verify for its time (4 deviations from a fresh cluster, a crash and a pause: about 10 min)
	$(EXPLORE) $(VERIFY_F2)

# make verify (docs/verification.md has the figures). Issue 12's searches:
# every fault from a fresh cluster at 4 deviations (the handover family of
# F1) and at 3 (one of each), and every interleaving of 8 choices.
VERIFY_F1 = -explore.start=fresh -explore.deviations=4 \
	-explore.crashes=0 -explore.handovers=1 -explore.dups=1 -explore.pauses=1 -explore.cuts=0
VERIFY_ALL = -explore.start=fresh -explore.deviations=3 \
	-explore.crashes=1 -explore.handovers=1 -explore.dups=1 -explore.pauses=1 -explore.cuts=1
# Left to make verify-more since issue 16's ranks doubled its states (89 M,
# 10 min): the crash family of F2 from a fresh cluster at 4 deviations.
# make test-explore runs it from a leader (EXPLORE_F2), VERIFY_ALL at 3.
VERIFY_F2 = -explore.start=fresh -explore.deviations=4 \
	-explore.crashes=1 -explore.handovers=0 -explore.dups=0 -explore.pauses=1 -explore.cuts=0
# Issue 16, from a leader of priority 1 with a lease: priorities 1 and 2
# and a witness, a stable period of ElectionMax (the handover within the
# depth), 4 messages in flight.
# P1: the successor of priority 2 is behind (the others' GrantVote refuses
# it), so the handover to it loses and it pauses (backoff.go); 4 deviations
# and a pause (a successor paused, late heartbeats and votes).
VERIFY_P1 = -explore.start=leader -explore.deviations=4 -explore.inflight=4 \
	-explore.priorities=1,2,0 -explore.stable=450ms -explore.behind=b \
	-explore.crashes=0 -explore.handovers=0 -explore.dups=0 -explore.pauses=1 -explore.cuts=0
# P2: a crash (a restarted successor) and a StepDown beside the priority
# handover, 3 deviations.
VERIFY_P2 = -explore.start=leader -explore.deviations=3 -explore.inflight=4 \
	-explore.priorities=1,2,0 -explore.stable=450ms \
	-explore.crashes=1 -explore.handovers=1 -explore.dups=0 -explore.pauses=0 -explore.cuts=0
# P3: the witness first by name (a) and the preferred node last, with a
# cut (a partitioned successor), a pause and a duplicate, 3 deviations.
VERIFY_P3 = -explore.start=leader -explore.deviations=3 -explore.inflight=4 \
	-explore.priorities=0,1,2 -explore.stable=450ms \
	-explore.crashes=0 -explore.handovers=0 -explore.dups=1 -explore.pauses=1 -explore.cuts=1
# FP: priorities 1 and 2 and a witness from a fresh cluster (no term
# yet, so no ranks: the first election runs on random timeouts, with the
# witness voting), then the handover to priority 2 within the depth; a
# crash and a StepDown, 3 deviations (4 would be about ten times the
# states: 41.8 M at 3 with a crash alone).
VERIFY_FP = -explore.start=fresh -explore.deviations=3 \
	-explore.priorities=1,2,0 -explore.stable=450ms \
	-explore.crashes=1 -explore.handovers=1 -explore.dups=0 -explore.pauses=0 -explore.cuts=0
# N4: 4 nodes (quorum 3), from a leader: two successors whose pre-votes
# overlap and voters bound by their promises (promise.go). A pause of the
# leader lets its successors campaign (a successor's pre-vote held back
# until the next one's slot: 2 deviations), 8 messages in flight (two
# pre-vote broadcasts and two answers). With a crash as well it took
# 15 min (169 M states).
VERIFY_N4 = -explore.nodes=4 -explore.start=leader -explore.deviations=4 -explore.inflight=8 \
	-explore.crashes=0 -explore.handovers=0 -explore.dups=0 -explore.pauses=1 -explore.cuts=0
