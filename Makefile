# Two commands: `make run` starts the product, `make test` runs the whole suite.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed
LMS_PORT ?= 5000
export LMS_PORT

LOCK := requirements.lock
TOOLS := $(VENV)-tools
PIP_TOOLS := pip-tools==7.6.2

.PHONY: run test install translations browser-deps migrate demo lint bench clean lock

# Dependencies come only from requirements.lock, every file checked against its sha256 (SUP-03); the project
# itself is installed editable on top without touching them. scripts/check_lock.py first refuses a lock that
# lacks something setup.cfg asks for (then: make lock). pip's chatter goes to .venv/pip.log, shown on failure.
$(STAMP): setup.cfg pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python scripts/check_lock.py
	@echo "installing into $(VENV) from $(LOCK), hash-checked (log: $(VENV)/pip.log)"
	@$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK) > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $(STAMP)

# Regenerate requirements.lock after changing the requirements in setup.cfg (pip-tools in a venv of its own;
# hashes of every file of each pinned release, so the lock installs on other platforms too).
lock:
	@test -x $(TOOLS)/bin/pip-compile || { $(PY) -m venv $(TOOLS) && $(TOOLS)/bin/python -m pip install --quiet $(PIP_TOOLS); }
	$(TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links \
	  --strip-extras --extra test --extra postgres --extra redis -o $(LOCK) setup.cfg scripts/lock-build.in
	@$(TOOLS)/bin/python scripts/check_lock.py

install: $(STAMP) translations

# Compile the .po catalogs that exist (core and plugins); a broken catalog stops the build with its error.
translations: $(STAMP)
	@for d in lms/translations plugins/*/translations; do \
	  if ls "$$d"/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then \
	    out=$$($(BIN)/pybabel compile -d "$$d" -D messages 2>&1) || { echo "$$out"; exit 1; }; \
	  fi; \
	done

migrate: install
	$(FLASK) db upgrade heads

demo: migrate
	$(FLASK) lms demo --if-empty

run: demo
	@echo
	@echo "  Web:    http://127.0.0.1:$(LMS_PORT)/"
	@$(FLASK) lms demo --logins
	@echo
	$(FLASK) lms serve --port $(LMS_PORT)

# Debian's chromium for the browser tests (Playwright drives the system browser; it downloads none).
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) \
	      || echo "chromium could not be installed: browser tests will be skipped"; \
	  else echo "chromium missing and not root: browser tests will be skipped"; fi; \
	fi

# The whole suite on SQLite, then (with LMS_TEST_DATABASE_URL) the database-facing tests on PostgreSQL.
# Tests run in parallel with pytest-xdist (TEST_WORKERS=0 runs them in one process); each worker has its
# own SQLite files and, on PostgreSQL, its own database (lms/testing.py).
TEST_WORKERS ?= auto
test: install browser-deps
	@$(BIN)/ruff check --quiet lms plugins media tests benchmarks scripts && echo "lint: ruff clean"
	env -u LMS_TEST_DATABASE_URL $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)
	@if [ -n "$$LMS_TEST_DATABASE_URL" ]; then \
	  echo "== the database-facing tests again, on PostgreSQL (LMS_TEST_DATABASE_URL)"; \
	  $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not browser and not slow" -p no:cacheprovider $(PYTEST_ARGS); \
	fi

lint: install
	$(BIN)/ruff check lms plugins media tests benchmarks scripts

bench: install
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache build *.egg-info
