# mk/capi.mk - the C library (capi/, include/graft.h), its C examples,
# tests and benchmark. Included by the top-level Makefile.
#
#   make lib          build/libgraft.so (soname libgraft.so.0) and build/libgraft.a
#   make lib-test     build/test/libgraft.so: the TEST build (Go tag grafttest),
#                     which honours GRAFT_TEST_* variables; tests/faults only,
#                     never installed
#   make test-c       the C API tests (tests/c), with the library and the examples
#   make test-c-asan  the same test binary built with ASan+UBSan (see below)
#   make bench-c      ns per query and event-to-callback latency
#   make examples-c   build/leader_worker, build/epoll_worker, build/gencerts
#   make install      PREFIX=/usr/local: lib, header, pkg-config file

GO     ?= go
CC     ?= cc
BUILD  ?= build
PREFIX ?= /usr/local

GRAFT_VERSION := $(shell sed -n 's/^\#define GRAFT_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' include/graft.h | paste -sd.)
CAPI_GO_SRC   := $(wildcard capi/*.go capi/*.c capi/*.h capi/*.map election/*.go transport/*.go) include/graft.h go.mod go.sum
CAPI_LDFLAGS  := -s -w "-extldflags=-Wl,-soname,libgraft.so.0 -Wl,--version-script=$(abspath capi/libgraft.map)"
C_WARN        := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
C_INC         := -Iinclude
# Programs find build/libgraft.so without LD_LIBRARY_PATH.
C_LINK        := -L$(BUILD) -lgraft -Wl,-rpath,$(abspath $(BUILD)) -lpthread

.PHONY: lib
lib: $(BUILD)/libgraft.so $(BUILD)/libgraft.so.0 $(BUILD)/libgraft.a ## build libgraft.so and libgraft.a

$(BUILD)/libgraft.so: $(CAPI_GO_SRC)
	@mkdir -p $(BUILD)
	$(GO) build -buildmode=c-shared -ldflags='$(CAPI_LDFLAGS)' -o $@ ./capi
	@rm -f $(BUILD)/libgraft.h # cgo's own header; include/graft.h is the public one

$(BUILD)/libgraft.so.0: $(BUILD)/libgraft.so
	ln -sf libgraft.so $@

$(BUILD)/libgraft.a: $(CAPI_GO_SRC)
	@mkdir -p $(BUILD)
	$(GO) build -buildmode=c-archive -ldflags='-s -w' -o $@ ./capi
	@rm -f $(BUILD)/libgraft.h

# The test build: capi/testhooks.go (tag grafttest) instead of
# capi/testhooks_release.go, so GRAFT_TEST_CLOCK_RATE and
# GRAFT_TEST_DISABLE_CHECK_QUORUM take effect. Its own directory, so that
# nothing links it by accident; `make install` never copies it.
TEST_LIB_DIR := $(BUILD)/test

.PHONY: lib-test
lib-test: $(TEST_LIB_DIR)/libgraft.so $(TEST_LIB_DIR)/libgraft.so.0 ## TEST build build/test/libgraft.so (GRAFT_TEST_* hooks; never installed)

$(TEST_LIB_DIR)/libgraft.so: $(CAPI_GO_SRC)
	@mkdir -p $(TEST_LIB_DIR)
	$(GO) build -tags grafttest -buildmode=c-shared -ldflags='$(CAPI_LDFLAGS)' -o $@ ./capi
	@rm -f $(TEST_LIB_DIR)/libgraft.h

$(TEST_LIB_DIR)/libgraft.so.0: $(TEST_LIB_DIR)/libgraft.so
	ln -sf libgraft.so $@

# --- examples -----------------------------------------------------------

.PHONY: examples-c
examples-c: $(BUILD)/leader_worker $(BUILD)/epoll_worker $(BUILD)/gencerts ## build the C examples

$(BUILD)/leader_worker: examples/c/leader_worker.c include/graft.h $(BUILD)/libgraft.so.0
	$(CC) $(C_WARN) -O2 $(C_INC) -o $@ $< $(C_LINK)

$(BUILD)/epoll_worker: examples/c/epoll_worker.c include/graft.h $(BUILD)/libgraft.so.0
	$(CC) $(C_WARN) -O2 $(C_INC) -o $@ $< $(C_LINK)

$(BUILD)/gencerts: examples/c/gencerts.c include/graft.h $(BUILD)/libgraft.so.0
	$(CC) $(C_WARN) -O2 $(C_INC) -o $@ $< $(C_LINK)

# --- tests --------------------------------------------------------------

C_TEST_SRC := tests/c/test_api.c tests/c/testlib.h

$(BUILD)/test_api: $(C_TEST_SRC) include/graft.h $(BUILD)/libgraft.so.0
	$(CC) $(C_WARN) -g -O1 $(C_INC) -o $@ tests/c/test_api.c $(C_LINK)

# The lease, wait and event-loop functions (issue 13), with three
# epoll_worker processes.
$(BUILD)/test_events: tests/c/test_events.c tests/c/testlib.h include/graft.h $(BUILD)/libgraft.so.0
	$(CC) $(C_WARN) -g -O1 $(C_INC) -o $@ tests/c/test_events.c $(C_LINK)

# Certificates that rotate and certificates bound to a cluster (issue 15).
$(BUILD)/test_tls: tests/c/test_tls.c tests/c/testlib.h include/graft.h $(BUILD)/libgraft.so.0
	$(CC) $(C_WARN) -g -O1 $(C_INC) -o $@ tests/c/test_tls.c $(C_LINK)

# The same tests linked statically against libgraft.a: the archive works.
$(BUILD)/test_api_static: $(C_TEST_SRC) include/graft.h $(BUILD)/libgraft.a
	$(CC) $(C_WARN) -g -O1 $(C_INC) -o $@ tests/c/test_api.c $(BUILD)/libgraft.a -lpthread

.PHONY: test-c
test-c: $(BUILD)/test_api $(BUILD)/test_api_static $(BUILD)/test_events $(BUILD)/test_tls $(BUILD)/leader_worker $(BUILD)/epoll_worker ## C API tests (needs cc)
	cd $(BUILD) && GRAFT_WORKER=$(abspath $(BUILD)/leader_worker) timeout 300 ./test_api
	cd $(BUILD) && GRAFT_EPOLL_WORKER=$(abspath $(BUILD)/epoll_worker) timeout 300 ./test_events
	cd $(BUILD) && timeout 120 ./test_tls
	cd $(BUILD) && GRAFT_WORKER=$(abspath $(BUILD)/leader_worker) GRAFT_QUICK=1 timeout 300 ./test_api_static
	GRAFT_REQUIRE_LIB=1 $(GO) test -count=1 ./capi/
	$(GO) test -count=1 -tags grafttest -run TestTestHooks ./capi/
	@! grep -q GRAFT_TEST_ $(BUILD)/libgraft.so $(BUILD)/libgraft.a || { echo "graft: the released library reads GRAFT_TEST_* variables"; exit 1; }
	@echo "graft: the released libgraft.so and libgraft.a do not contain GRAFT_TEST_*"

# AddressSanitizer, LeakSanitizer and UBSan instrument the C test program
# only: the Go part of libgraft is compiled by the Go toolchain and is not
# instrumented, so bugs inside Go code are not found this way (go vet and
# the Go tests with -race cover it). What is checked: every buffer the tests
# hand to the library (errbuf, leader, stats), everything the callbacks
# touch, and every C allocation of the library's cgo glue (C.CString for the
# callbacks, the position buffer): LeakSanitizer scans global data but not
# the Go heap, so the library keeps its few permanent C strings in globals.
# ASan's own SIGSEGV handler and Go's coexist (Go chains to it). -Wno-restrict
# and -Wno-format-truncation: gcc's instrumented build warns about snprintf
# into distinct fields of one struct, which cannot overlap.
$(BUILD)/test_api_asan: $(C_TEST_SRC) include/graft.h $(BUILD)/libgraft.so.0
	$(CC) $(C_WARN) -Wno-restrict -Wno-format-truncation -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
	  $(C_INC) -o $@ tests/c/test_api.c $(C_LINK)

.PHONY: test-c-asan
test-c-asan: $(BUILD)/test_api_asan $(BUILD)/leader_worker ## C API tests under ASan+UBSan
	cd $(BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1 GRAFT_WORKER=$(abspath $(BUILD)/leader_worker) timeout 300 ./test_api_asan

# --- benchmark ----------------------------------------------------------

$(BUILD)/bench_api: tests/c/bench_api.c tests/c/testlib.h include/graft.h $(BUILD)/libgraft.so.0
	$(CC) $(C_WARN) -O2 $(C_INC) -o $@ tests/c/bench_api.c $(C_LINK)

.PHONY: bench-c
bench-c: $(BUILD)/bench_api ## ns per query, event-to-callback latency
	cd $(BUILD) && ./bench_api

# --- install ------------------------------------------------------------

.PHONY: install
install: lib ## install lib, header and graft.pc under PREFIX
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(BUILD)/libgraft.so $(DESTDIR)$(PREFIX)/lib/libgraft.so.$(GRAFT_VERSION)
	ln -sf libgraft.so.$(GRAFT_VERSION) $(DESTDIR)$(PREFIX)/lib/libgraft.so.0
	ln -sf libgraft.so.0 $(DESTDIR)$(PREFIX)/lib/libgraft.so
	install -m 0644 $(BUILD)/libgraft.a $(DESTDIR)$(PREFIX)/lib/libgraft.a
	install -m 0644 include/graft.h $(DESTDIR)$(PREFIX)/include/graft.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(GRAFT_VERSION)|' capi/graft.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/graft.pc
