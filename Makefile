# Two commands do everything on a fresh machine with Python 3.11:
#   make run    set up .venv, start a local Prefect server, ingest the sample data
#   make test   set up .venv with test extras, run `make lint` (with the contract gate), then the whole suite
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run fail lint test bench docs lock clean system-deps

run: $(VENV)/.installed
	$(BIN)/python -m flows.demo

# A deliberately failing run after `make run`: it opens an incident (see README, "Incidents").
fail: $(VENV)/.installed
	$(BIN)/python -m flows.failing_run

# Lint rules, formatting and type checks: [tool.ruff] and [tool.mypy] in pyproject.toml; then the contract gate:
# every contract change keeps its declared compatibility and raises its version (docs/concepts/contracts.md).
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then echo "not a git checkout: contract gate skipped"; \
	elif ! git rev-parse --verify -q HEAD~ >/dev/null; then echo "no earlier commit here (a shallow clone): contract gate skipped"; \
	else $(BIN)/ops contract check; fi

# The suite in two parts: three workers share the tests that neither time nor kill anything, then the
# `serial` ones (drills, crash tests, deadlines) run alone. Both parts always run; either failing fails.
PYTEST_WORKERS ?= 3
test: $(VENV)/.installed-test lint system-deps
	@status=0; \
	$(BIN)/python -m pytest -m "not serial" -n $(PYTEST_WORKERS) --dist loadfile || status=1; \
	$(BIN)/python -m pytest -m serial || status=1; \
	exit $$status

# Real servers the tests run against (Debian packages); PostgreSQL is expected on 127.0.0.1:5432. sshd is the
# bastion of the SSH tunnel tests (run in a network namespace by the tests, never as the host's service).
system-deps:
	@command -v prometheus >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "install Prometheus first: sudo apt-get install -y prometheus"; exit 1; fi; }
	@test -f /usr/lib/postgresql/15/lib/wal2json.so || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15-wal2json >/dev/null; \
	  else echo "install wal2json first: sudo apt-get install -y postgresql-15-wal2json"; exit 1; fi; }
	@test -x /usr/sbin/sshd || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; \
	  else echo "install sshd first (the SSH bastion tests): sudo apt-get install -y openssh-server"; exit 1; fi; }

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py

# The docs site (mkdocs-material) into site/; --strict fails on a broken link or an undocumented setting.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 PYTHONPATH=$(CURDIR) $(BIN)/python -m mkdocs build --strict --site-dir site

# The pinned versions everything installs: requirements.lock (runtime and the test extra, which holds
# the other extras' packages too) and requirements-run.lock (runtime and the chaos extra, so the drills of
# the on-call loop run after `make run`; the same versions).
# `make lock` adds what pyproject.toml gained and keeps every other pin; LOCK_FLAGS=--upgrade moves them all.
LOCK_FLAGS ?=
COMPILE = $(BIN)/pip-compile --quiet --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	--no-emit-trusted-host --annotation-style line $(LOCK_FLAGS)

lock:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet 'pip-tools>=7.4'
	$(COMPILE) --extra test --output-file requirements.lock pyproject.toml
	$(COMPILE) --extra chaos --constraint requirements.lock --output-file requirements-run.lock pyproject.toml

$(VENV)/.installed-docs: pyproject.toml requirements.lock $(VENV)/.installed
	$(BIN)/pip install --quiet --constraint requirements.lock -e '.[docs]'
	touch $@

$(VENV)/.installed: pyproject.toml requirements-run.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-run.lock
	$(BIN)/pip install --quiet --no-deps -e '.[chaos]'
	touch $@

$(VENV)/.installed-test: pyproject.toml requirements.lock $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .sluice
