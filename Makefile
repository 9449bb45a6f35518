# The two commands of the README:
#   make run    set up, start a local Triton, and run the main job (sql/movie_reviews.sql)
#   make check  lint (ruff), types (mypy --strict) and the tests that need neither Flink nor Triton:
#               the inner loop, under 2 minutes
#   make test   set up, and run the test suite (starts its own Triton; installs Debian's prometheus
#               package when it is missing: `make prometheus`)
#   make bench  set up with the bench extra, run the benchmark suite (BENCH_ARGS=--quick for a short run)
#   make test-matrix  the compatibility tests on every supported apache-flink minor (1.20 to 2.3), one
#               cached venv each in .venv-matrix/ (MATRIX_ARGS="--minors 1.20" for some), and
#               docs/matrix.json + the README's version table from the results
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: setup check run test test-matrix bench clean prometheus

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,test]'
	touch $@

$(VENV)/.check-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[server,test,check]'
	touch $@

# The fast tier: no test marked flink, triton or slow (pyproject.toml); tests/conftest.py makes
# any of them that would still start a JVM or a Triton server fail.
FAST_TESTS := not flink and not triton and not slow

check: setup prometheus $(VENV)/.check-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYFLINK_TRITON_FAST=1 $(PY) -m pytest -q -m "$(FAST_TESTS)" $(PYTEST_ARGS)

run: setup
	$(VENV)/bin/pyflink-triton run sql/movie_reviews.sql

test: setup prometheus $(VENV)/.bench-installed
	$(PY) -m pytest --durations=25 $(PYTEST_ARGS)

test-matrix: setup
	$(PY) tests/matrix.py $(MATRIX_ARGS)
	$(PY) docs/generate.py

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[server,test,bench]'
	touch $@

bench: setup $(VENV)/.bench-installed
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# Debian's prometheus package (prometheus, promtool) for the tests of deploy/prometheus/ and of a real
# Prometheus scraping a cluster (tests/test_alert_rules.py, tests/test_prometheus.py). Installed with
# apt-get as root (or with sudo) when missing; a policy-rc.d that refuses every start keeps the
# package's own service from starting (the tests run their own prometheus). Without apt-get the
# package cannot exist here, and those tests are skipped, saying so.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
prometheus:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then :; \
	elif ! command -v apt-get >/dev/null; then echo "no apt-get: the Prometheus tests will be skipped"; \
	else \
	  echo "installing Debian's prometheus package (its service is not started)"; \
	  policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=/usr/sbin/policy-rc.d; \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee $$policy >/dev/null && $(SUDO) chmod 755 $$policy; fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus >/dev/null \
	    || { $(SUDO) apt-get update -q >/dev/null && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus >/dev/null; }; \
	  status=$$?; [ -z "$$policy" ] || $(SUDO) rm -f $$policy; exit $$status; \
	fi

clean:
	rm -rf $(VENV) .venv-matrix build *.egg-info .pytest_cache
