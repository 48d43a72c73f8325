# mk/cmd.mk - the graft command (cmd/graft, issue 14). cmd/graft is a Go
# module of its own (replace => ../..), so that its TOML and Prometheus
# dependencies stay out of the library's go.mod. Included by the top-level
# Makefile.
#
#   make graft       build/graft: graft run -- CMD, certs, status, version
#   make install     also installs graft into PREFIX/bin
#   make test-cmd    its tests (-race): three real graft run processes on
#                    loopback, leader stopped/terminated/killed (as root
#                    also isolated with iptables),
#                    grandchildren, --on-exit modes, bad settings, config
#                    file and environment, /leader and /metrics. About 30 s
#                    once built (the first -race build takes a minute more).
#   make graft-trials  CMD_TRIALS leader faults in turn (SIGSTOP, SIGKILL,
#                    SIGTERM; as root also cut off from its peers with
#                    iptables) with a child that ignores SIGTERM: how long
#                    before the lease deadline each group was gone (p50,
#                    p99), lease to child start, RSS at rest.

GRAFT_CMD_SRC := $(wildcard cmd/graft/*.go) cmd/graft/go.mod cmd/graft/go.sum \
	$(wildcard election/*.go) $(wildcard transport/*.go)

.PHONY: graft
graft: $(BUILD)/graft ## build build/graft (the graft command: graft run -- CMD)

$(BUILD)/graft: $(GRAFT_CMD_SRC) include/graft.h
	@mkdir -p $(BUILD)
	cd cmd/graft && CGO_ENABLED=0 $(GO) build -trimpath \
	  -ldflags '-X main.version=$(GRAFT_VERSION)' -o $(abspath $(BUILD))/graft .

.PHONY: install-cmd
install: install-cmd
install-cmd: $(BUILD)/graft
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/graft $(DESTDIR)$(PREFIX)/bin/graft

.PHONY: test-cmd
test-cmd: check-go ## graft command tests (-race): 3 graft run processes, pause/kill/handover, no child overlap
	cd cmd/graft && $(GO) vet ./... && test -z "$$(gofmt -l .)"
	cd cmd/graft && $(GO) test -race -count=1 -timeout 300s -v ./...

CMD_TRIALS ?= 60
.PHONY: graft-trials
graft-trials: check-go ## graft run under CMD_TRIALS=60 leader faults: group-gone margin p50/p99, start delay, RSS (~40 s)
	cd cmd/graft && GRAFT_CMD_TRIALS=$(CMD_TRIALS) $(GO) test -count=1 -timeout 600s -run '^TestRun_Trials$$' -v .
