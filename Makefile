# The two commands: `make run` (set up, seed demo data, serve http://127.0.0.1:8000)
# and `make test` (set up, lint, run the whole suite). Both run `make setup` first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
# Debian packages the project needs: the graphviz `dot` binary and Chromium for browser tests.
DEB_PACKAGES := graphviz chromium fonts-dejavu-core

.PHONY: setup run test lint system-packages bench clean prod journey prod-demo

setup: system-packages $(VENV)/.installed
	$(MANAGE) migrate --noinput

system-packages:
	@missing=""; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -d /usr/share/fonts/truetype/dejavu ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing Debian packages:$$missing -- install them with: sudo apt-get install$$missing"; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml client/pyproject.toml
	@test -x $(PY) || { PYTHON=$$(scripts/find-python) && echo "Creating $(VENV) with $$PYTHON" && $$PYTHON -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	# The Python client and its `modelgate` CLI: its own package, tested against the server.
	$(PY) -m pip install -q -e "./client[dvc]"
	touch $@

run: setup
	$(MANAGE) seed_demo
	$(MANAGE) runserver 127.0.0.1:8000

# The whole workflow as one journey (scripts/journey.py) against `make run`'s server: start
# `make run` in another terminal first.
JOURNEY_URL ?= http://127.0.0.1:8000
journey: $(VENV)/.installed
	@$(PY) -c "import urllib.request, sys; urllib.request.urlopen('$(JOURNEY_URL)/accounts/login/', timeout=5)" 2>/dev/null \
	  || { echo "No Modelgate at $(JOURNEY_URL): start it with 'make run' in another terminal."; exit 1; }
	@tokens=$$(mktemp) && trap 'rm -f $$tokens' EXIT && \
	  $(MANAGE) demo_tokens > $$tokens && \
	  $(PY) scripts/journey.py --url $(JOURNEY_URL) --tokens $$tokens

# The production topology (Procfile): gunicorn, WORKERS Celery workers and beat, against the
# DATABASE_URL, REDIS_URL (and S3) in the environment; see README "Running in production".
WORKERS ?= 2
PORT ?= 8000
prod: setup
	$(MANAGE) collectstatic --noinput -v 0
	$(MANAGE) check --deploy
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile -p $(PORT) \
	  -c web=1,worker=$(WORKERS),beat=1

# The same topology serving the demo data: seed_demo runs once, as a development-mode
# command against the same DATABASE_URL and storages (production processes never enable
# demo mode; the seeded accounts have the password "demo": never on a real deployment).
prod-demo: setup
	MODELGATE_MODE=development MODELGATE_DEMO=1 $(MANAGE) seed_demo
	$(MAKE) --no-print-directory prod

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The suite runs in parallel (pytest-xdist): one process per CPU, at most four (each has its
# own test database and Redis database: tests/conftest.py). PYTEST_WORKERS=0 runs it in one.
# Keep the default --dist load: loadscope/loadfile/loadgroup key tests by node id, and the
# schemathesis tests (tests/api/test_schemathesis.py) are 53 items with one node id, of
# which those modes silently run one.
PYTEST_WORKERS ?= auto
test: setup lint
	$(MANAGE) check
	$(MANAGE) makemigrations --check --dry-run
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --maxprocesses 4 $(PYTEST_ARGS)

bench: setup
	$(PY) bench/pages.py

clean:
	rm -rf $(VENV) var
