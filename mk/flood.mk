# mk/flood.mk - the flood test of issue 18. Included by the top-level
# Makefile.
#
#   make flood   three graft nodes as processes on loopback; a stranger with
#                no certificate (transport/internal/flooder) floods the
#                leader's port for FLOOD_SECS per mode: QUIC Initials whose
#                payload never decrypts, Initials with real ClientHellos,
#                then handshakes with junk certificate chains from 4
#                dialers. Fails on any leader or term change, or if the
#                leader's RSS grows by more than 64 MiB; prints the
#                leader's CPU, RSS and goroutines and the heartbeat delays
#                (without flood, then per mode). About a minute.
#                FLOOD_RATE=20000 paces the flooder (0: full speed).

FLOOD_SECS ?= 5
FLOOD_RATE ?= 0

.PHONY: flood
flood: check-go ## a stranger floods a 3-process cluster's leader: no leader change, bounded memory (~1 min)
	GRAFT_FLOOD=1 GRAFT_FLOOD_SECS=$(FLOOD_SECS) GRAFT_FLOOD_RATE=$(FLOOD_RATE) \
	  $(GO) test -count=1 -timeout 300s -run '^TestFlood' -v ./transport/
