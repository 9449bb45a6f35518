# The two commands of the README:
#   make run    set up, start a local Triton, and run the main job (sql/movie_reviews.sql)
#   make test   set up, and run the test suite (starts its own Triton)
#   make bench  set up with the bench extra, run the benchmark suite (BENCH_ARGS=--quick for a short run)
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: setup run test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,test]'
	touch $@

run: setup
	$(VENV)/bin/pyflink-triton run sql/movie_reviews.sql

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[server,test,bench]'
	touch $@

bench: setup $(VENV)/.bench-installed
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
