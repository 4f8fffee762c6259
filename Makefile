# Two commands do everything on a fresh machine with Python 3.11:
#   make run    set up .venv, start a local Prefect server, ingest the sample data
#   make test   set up .venv with test extras, run `make lint`, then the whole suite
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run fail lint test bench docs clean system-deps

run: $(VENV)/.installed
	$(BIN)/python -m flows.demo

# A deliberately failing run after `make run`: it opens an incident (see README, "Incidents").
fail: $(VENV)/.installed
	$(BIN)/python -m flows.failing_run

# Lint rules and type checks: [tool.ruff] and [tool.mypy] in pyproject.toml (ruff format is not applied).
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(VENV)/.installed-test lint system-deps
	$(BIN)/python -m pytest

# Real servers the tests run against (Debian packages); PostgreSQL is expected on 127.0.0.1:5432.
system-deps:
	@command -v prometheus >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "install Prometheus first: sudo apt-get install -y prometheus"; exit 1; fi; }

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py

# The docs site (mkdocs-material) into site/; --strict fails on a broken link or an undocumented setting.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 PYTHONPATH=$(CURDIR) $(BIN)/python -m mkdocs build --strict --site-dir site

$(VENV)/.installed-docs: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .sluice
