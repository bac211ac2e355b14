# carepath — common tasks. Every target that needs Python first makes sure .venv is set up
# (scripts/setup-env.sh is fast when nothing changed).
#
#   make setup   venv with every extra (viz, dask, sensitivity, notebooks, test)
#   make demo    run the england_cmht scenario into results/demo
#   make test    full test suite (installs Debian's chromium for the browser tests if missing)
#   make viz     open the browser view
#   make bench   run the benchmarks (print figures; never gate on time)
#   make docs    regenerate the generated documentation (parameter reference, ...)
#   make clean   remove results and build/test leftovers (make distclean also removes .venv)
#
# Variables: PYTHON_FOR_VENV=/path/to/python3.12+ picks the interpreter for a new venv
# (default: found by scripts/setup-env.sh); PYTEST_ARGS adds pytest arguments, e.g.
# make test PYTEST_ARGS="-m 'not browser'"; PYTEST_WORKERS (default 2).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PYTHON_FOR_VENV ?= $(CAREPATH_PYTHON)
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
SETUP_ENV = CAREPATH_PYTHON="$(PYTHON_FOR_VENV)" bash scripts/setup-env.sh

.PHONY: help setup demo test viz bench docs clean distclean

help:
	@sed -n '4,11p' Makefile | sed 's/^# \{0,1\}//'

setup:
	$(SETUP_ENV) all

demo:
	$(SETUP_ENV) viz
	$(VENV)/bin/carepath run --scenario england_cmht --out results/demo

test:
	$(SETUP_ENV) all
	bash scripts/install-chromium.sh
	bash scripts/run-tests.sh -n $(PYTEST_WORKERS) -p no:cacheprovider $(PYTEST_ARGS)

viz:
	$(SETUP_ENV) viz
	$(VENV)/bin/carepath viz

bench:
	$(SETUP_ENV) all
	$(PY) benchmarks/run_all.py

docs:
	$(SETUP_ENV) viz
	$(PY) -m model.docgen

clean:
	rm -rf results build dist test-artifacts .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name '*.egg-info' -prune -exec rm -rf {} + \
		-o -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
