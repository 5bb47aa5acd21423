# Two commands on a fresh machine with Python 3.11 and make:
#   make run    set up, then run the bot (the demo against a local Slack stand-in
#               when no SLACK_BOT_TOKEN is set)
#   make test   set up, then run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench-drift clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; run: make PYTHON=python3 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@if [ -n "$$SLACK_BOT_TOKEN" ]; then $(BIN)/incident-bot serve; else $(BIN)/incident-bot demo; fi

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/incident-bot runbooks check
	$(BIN)/pytest -q

# Drift engine vs Evidently (a benchmark-only dependency, in its own venv; several minutes)
bench-drift: $(STAMP)
	test -x benchmarks/.venv-evidently/bin/python || ($(PYTHON) -m venv benchmarks/.venv-evidently && \
	  benchmarks/.venv-evidently/bin/pip install -q evidently "pandas<2.3" pyarrow)
	$(BIN)/python benchmarks/drift/run_benchmark.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/incident-bot runbooks check

clean:
	rm -rf $(VENV) incidents.db .pytest_cache
