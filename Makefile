# Two commands do all the set-up on a fresh clone (only Python 3.11+ needed beforehand):
#   make demo   - install into .venv, start the local sandbox, scan it, write reports/
#   make test   - install into .venv, run the test-suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint install constraints clean help

help:
	@echo "make demo   run a scan against the embedded sandbox (reports in reports/)"
	@echo "make test   run the test-suite"
	@echo "make test-fast   the unit tests only (tests/unit, well under a minute)"
	@echo "make lint   ruff + mypy"
	@echo "make constraints   re-pin constraints.txt to the versions installed in $(VENV)"

# Installs with constraints.txt: CI and every fresh clone get the versions the suite last passed with.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "auditor needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[sandbox,dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/auditor demo

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q tests/unit

# After changing pyproject.toml's dependencies (or upgrading in the venv): install what the new
# pyproject.toml needs without the old pins (nothing already satisfied is upgraded), then pin what
# is installed, for pyproject.toml's dependency closure only.
constraints:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[sandbox,dev]'
	$(PY) tools/freeze_constraints.py constraints.txt
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check auditor tests tools $(wildcard bench)
	$(VENV)/bin/mypy auditor

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache .mypy_cache .ruff_cache
