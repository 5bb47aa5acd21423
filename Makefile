# Two commands on a fresh machine with Python 3.11 and make:
#   make run    set up, then run the bot (the demo against a local Slack stand-in
#               when no SLACK_BOT_TOKEN is set)
#   make test   set up, then run the whole test suite
#
# Both install the exact, hash-checked versions of the lock files (pip-compile, `make lock`):
#   requirements.lock        the core runtime             (make run, the container image)
#   requirements-drift.lock  the core + the drift extra   (the image with --build-arg EXTRAS=drift)
#   requirements-dev.lock    the core + drift + dev tools (make test, CI)
# `make run` installs no dev tools; `make test` adds them (and drift) to the same .venv.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
LOCK_VENV := .venv-lock
LOCK_OPTS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: run test lint bandit audit secrets secrets-baseline coverage lock bench-drift clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; run: make PYTHON=python3 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# the locked dependencies, hash-checked, then the project itself (editable, no dependency of its own)
$(RUN_STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

$(DEV_STAMP): requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

run: $(RUN_STAMP)
	@if [ -n "$$SLACK_BOT_TOKEN" ]; then $(BIN)/incident-bot serve; else $(BIN)/incident-bot demo; fi

# The suite under coverage of the shipped packages (.coveragerc; CLI subprocesses included):
# fails below 85 %, and prints the figure ("Total coverage: ...") before the test summary
COV_GATE := --cov --cov-fail-under=85
# The suite in 4 worker processes (pytest-xdist): its tests mostly wait on sockets, databases
# and subprocesses, so 4 workers use 2 cores well. A module's tests stay on one worker (its
# module fixtures, the MLflow server, start once per worker that needs them).
PARALLEL ?= -n 4 --dist loadfile

test: .venv-mlflow
test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/incident-bot runbooks check
	$(BIN)/pytest -q $(PARALLEL) $(COV_GATE) --cov-report=

# Static security scan of the shipped code (.ci/run): fails on any high-severity finding
bandit: $(DEV_STAMP)
	$(BIN)/bandit -q -r bot domain handlers storage scheduler runbooks --severity-level high && echo "bandit: no high-severity finding"

# Known vulnerabilities in the locked packages (pip-audit; says SKIPPED when PyPI's advisory
# data cannot be reached, rather than passing silently)
audit: $(DEV_STAMP)
	$(BIN)/python .ci/audit-dependencies $(BIN)/pip-audit

# `make test`'s suite with the per-file figures (files not fully covered)
coverage: $(DEV_STAMP)
	$(BIN)/pytest -q $(COV_GATE) --cov-report=term:skip-covered

# Secret scan of every tracked file against the reviewed fakes of .secrets.baseline (.ci/run)
secrets: $(DEV_STAMP)
	.ci/secret-scan

# After adding test fakes: rescan into .secrets.baseline (known entries keep their audit), then
# review the new ones with `$(BIN)/detect-secrets audit .secrets.baseline`
secrets-baseline: $(DEV_STAMP)
	git ls-files -z | grep -zv '^\.secrets\.baseline$$' | xargs -0 $(BIN)/detect-secrets scan --baseline .secrets.baseline

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/incident-bot runbooks check

# Re-resolve the lock files after a change to pyproject.toml's dependencies (needs PyPI).
# The dev lock is resolved first; the other two are constrained to its versions, so all three agree.
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q pip-tools; }
	$(LOCK_VENV)/bin/pip-compile $(LOCK_OPTS) --extra dev --extra drift --extra mlflow -o requirements-dev.lock pyproject.toml
	$(LOCK_VENV)/bin/pip-compile $(LOCK_OPTS) -c requirements-dev.lock -o requirements.lock pyproject.toml
	$(LOCK_VENV)/bin/pip-compile $(LOCK_OPTS) -c requirements-dev.lock --extra drift -o requirements-drift.lock pyproject.toml

# Drift engine vs Evidently (a benchmark-only dependency, in its own venv; several minutes)
bench-drift: $(DEV_STAMP)
	test -x benchmarks/.venv-evidently/bin/python || ($(PYTHON) -m venv benchmarks/.venv-evidently && \
	  benchmarks/.venv-evidently/bin/pip install -q evidently "pandas<2.3" pyarrow)
	$(BIN)/python benchmarks/drift/run_benchmark.py

# The MLflow server the registry tests start (issue 18). Full mlflow conflicts with the project's
# pins, so it has a venv of its own, installed from its own hash-checked lock (the version of
# mlflow-skinny in requirements-dev.lock); `make lock-mlflow` re-resolves it.
MLFLOW_VENV := .venv-mlflow

.PHONY: .venv-mlflow lock-mlflow
.venv-mlflow: $(MLFLOW_VENV)/bin/mlflow

$(MLFLOW_VENV)/bin/mlflow: requirements-mlflow-server.lock
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install -q --require-hashes -r requirements-mlflow-server.lock
	@touch $@

lock-mlflow:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q pip-tools; }
	$(LOCK_VENV)/bin/pip-compile $(LOCK_OPTS) -o requirements-mlflow-server.lock requirements-mlflow-server.in

clean:
	rm -rf $(VENV) $(LOCK_VENV) incidents.db incidents.inbox.db .pytest_cache
