# talentsim — two commands on a fresh machine:
#   make demo   set up .venv and run the flagship scenario
#   make test   set up .venv with the dev tools and run ruff, mypy, the docs build and pytest (fast subset)
#   make docs   build the documentation site into site/ (strict)
#   make test-all   the same, including the slow statistical tests
#   make test-numba-latest   the fast suite against the newest Numba (beyond pyproject's bound)

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Prefer an explicit python3.12 (pyenv provides it through .python-version), else python3.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: demo test test-all test-numba-latest lint docs browser-test-deps check-python clean

check-python:
	@if [ -z "$(PYTHON)" ]; then echo "error: no python3 found; talentsim needs Python >= 3.12" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' || { \
	  echo "error: talentsim needs Python >= 3.12, but $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())')." >&2; \
	  echo "       Install Python 3.12 (e.g. 'pyenv install 3.12') or run: make PYTHON=/path/to/python3.12 ..." >&2; \
	  exit 1; }

$(VENV)/.stamp-base: pyproject.toml | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.stamp-base

demo: $(VENV)/.stamp-base
	$(VENV)/bin/talentsim run scenarios/msl_exodus.toml --seed 42 --out results/msl_exodus --force --report

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The documentation site (mkdocs-material, mkdocstrings, the tutorial notebook) into site/;
# strict: a broken link, a missing anchor or an unresolved reference fails the build.
docs: $(VENV)/.stamp-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# What the dashboard's browser test needs (Debian's chromium via apt-get when root, solara's
# front-end files via npm): installed if possible; if not, the test skips and says what to run.
browser-test-deps: $(VENV)/.stamp-dev
	@$(PY) tests/browser_deps.py

# pytest exits 5 when it collected nothing: say so rather than fail silently.
test: lint docs browser-test-deps
	@$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

test-all: lint docs browser-test-deps
	@$(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

# The fast suite against the newest Numba and llvmlite on the registry, ignoring pyproject's
# upper bound (pip warns that talentsim asks for less): run it before raising the bound. Its
# own venv and Numba cache, so the main .venv is untouched.
LATEST := .venv-numba-latest
test-numba-latest: check-python
	@test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet -e '.[dev]'
	$(LATEST)/bin/python -m pip install --quiet --upgrade numba llvmlite
	@$(LATEST)/bin/python -c 'import numba, llvmlite; print(f"testing with numba {numba.__version__}, llvmlite {llvmlite.__version__}")'
	NUMBA_CACHE_DIR=$(LATEST)/numba-cache $(LATEST)/bin/pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .mypy_cache .ruff_cache results
