# The two commands of the README:
#   make run    set up, start a local Triton, and run the main job (sql/movie_reviews.sql)
#   make test   set up, and run the test suite (starts its own Triton)
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

bench: setup
	$(PY) benchmarks/bench_client.py
	$(PY) benchmarks/bench_udf.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
