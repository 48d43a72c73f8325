# mk/dns.mk - peers by DNS name across real processes in network namespaces
# (tests/dns), names resolved from each namespace's own hosts file. Included
# by the top-level Makefile.
#
#   make test-dns   a node back in its namespace with a new IP and its name
#                   remapped (each of three in turn), names that resolve only
#                   5 s after start, a name that never resolves and one where
#                   nobody answers, and Go's hosts cache measured (about a
#                   minute; root)
#
# Needs root and iproute2 (`ip netns`; installed with apt-get when missing and
# root). Without them it fails and says what it needs. Nothing leaves the
# machine: each namespace's resolv.conf names its own loopback, where nothing
# listens.

GO ?= go

.PHONY: dns-deps
dns-deps:
	@[ "$$(id -u)" = 0 ] || { echo "graft: test-dns needs root (network namespaces, veth, /etc/netns): run it with sudo"; exit 1; }
	@command -v ip >/dev/null || { $(call APT_INSTALL,iproute2); }
	@ip netns list >/dev/null 2>&1 || { echo "graft: test-dns needs 'ip netns' (iproute2) and a kernel with network namespaces"; exit 1; }

.PHONY: test-dns
test-dns: check-go dns-deps ## peers by DNS name: nodes in network namespaces move, names resolve late or never (root)
	$(GO) test -count=1 -timeout 170s -v ./tests/dns
