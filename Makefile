# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
# The virtual environment is .venv; it is (re)installed only when pyproject.toml changes (stamp file).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: the tests mostly wait (servers, browsers, timers), so more workers than cores pays.
TEST_WORKERS ?= 3

.DEFAULT_GOAL := help
.PHONY: help install run test test-all lint types pytest bench clean distclean

help:
	@echo "make run     install if needed, start everything on an embedded Redis, print the URL (Ctrl-C stops)"
	@echo "make test    install if needed, then lint (ruff), types (mypy) and the tests (pytest; slow ones only under CI=true)"
	@echo "make test-all  the same with the slow fault, restart and end-to-end tests (what CI runs)"
	@echo "make lint    ruff (lint and format check) and mypy only"
	@echo "make bench   run the throughput and payload benchmarks (python -m benchmarks)"
	@echo "make clean   remove caches and build leftovers (keeps .venv and var/)"
	@echo "make distclean  also remove .venv and var/ (the embedded Redis data)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "need Python 3.11 or newer, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV); on Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[test]"
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ioc run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

types: lint

pytest: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --durations=30

test: lint pytest

test-all: lint
	IOC_TEST_FULL=1 $(BIN)/pytest -n $(TEST_WORKERS) --durations=30

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist test-artifacts *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) var
