# Two commands do all the set-up on a fresh clone (only Python 3.11+ needed beforehand):
#   make demo   - install into .venv, start the local sandbox, scan it, write reports/
#   make test   - install into .venv, run the test-suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint install clean help

help:
	@echo "make demo   run a scan against the embedded sandbox (reports in reports/)"
	@echo "make test   run the test-suite"
	@echo "make lint   ruff + mypy"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "auditor needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[sandbox,dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/auditor demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check auditor tests $(wildcard bench)
	$(VENV)/bin/mypy auditor

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache .mypy_cache .ruff_cache
