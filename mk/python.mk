# mk/python.mk - the Python binding (bindings/python, package `graft`), its
# tests, benchmark and install. Included by the top-level Makefile, which
# sets PYTHON (default /usr/bin/python3), BUILD and GO.
#
#   make test-python     pytest on bindings/python/tests (fails on any skip)
#   make bench-python    µs per node.state, callback round-trip latency
#   make install-python  pip install the package, libgraft.so shipped inside
#
# The tests use the checkout's package (PYTHONPATH) and library
# (GRAFT_LIBRARY): no install needed. Debian's python3-pytest is installed
# by deps-python when run as root; PyPI is never needed.

PYTHON ?= /usr/bin/python3
BUILD  ?= build

PY_ENV := PYTHONPATH=$(abspath bindings/python) GRAFT_LIBRARY=$(abspath $(BUILD)/libgraft.so)

# pip, setuptools and wheel build the package offline (test_packaging.py,
# install-python); Debian ships them for the system Python.
.PHONY: deps-python-build
deps-python-build:
	@$(PYTHON) -c 'import setuptools, wheel' 2>/dev/null && $(PYTHON) -m pip --version >/dev/null 2>&1 || { $(call APT_INSTALL,python3-pip python3-setuptools python3-wheel); }
	@$(PYTHON) -c 'import setuptools, wheel' && $(PYTHON) -m pip --version >/dev/null || { echo "graft: $(PYTHON) cannot import pip, setuptools and wheel"; exit 1; }

.PHONY: test-python
test-python: deps-python deps-python-build lib ## Python binding tests (pytest; a skipped test fails the run)
	$(PY_ENV) GRAFT_FAIL_ON_SKIP=1 $(PYTHON) -m pytest -q -p no:cacheprovider bindings/python/tests

.PHONY: bench-python
bench-python: lib ## Python: µs per node.state, callback round-trip latency
	$(PY_ENV) $(PYTHON) bindings/python/bench_api.py

# pip refuses to touch a Debian system Python (PEP 668, EXTERNALLY-MANAGED)
# unless told: graft is no Debian package and lands in /usr/local, so we
# tell it. In a virtualenv (PYTHON=venv/bin/python) nothing is added.
PIP_INSTALL_FLAGS ?=

.PHONY: install-python
install-python: deps-python-build lib ## pip install bindings/python (offline, libgraft.so inside)
	@flags='$(PIP_INSTALL_FLAGS)'; \
	if $(PYTHON) -c 'import sys, sysconfig, os; sys.exit(not (sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))'; then \
	  flags="$$flags --break-system-packages"; fi; \
	echo "$(PYTHON) -m pip install --no-build-isolation $$flags ./bindings/python"; \
	$(PYTHON) -m pip install --no-build-isolation $$flags ./bindings/python
	rm -rf bindings/python/build bindings/python/graft.egg-info
