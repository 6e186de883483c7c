# relaylane: every target installs what it needs first (.venv is made when missing).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit peer browser bench bench-quick bench-more soak screenshots clean

$(STAMP): pyproject.toml
	@PY=$(PY) bash scripts/ensure-system.sh
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/relaylane demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# Postfix is the independent peer of the interop tests and benchmarks; without it (no
# root, no apt) those tests skip with the reason shown, except under CI=true.
peer:
	@bash bench/ensure-postfix.sh || echo "Postfix unavailable: the interop tests will be skipped"

# Chromium drives the dashboard's browser tests (Debian's package; no browser download).
browser:
	@bash scripts/ensure-browser.sh || echo "Chromium unavailable: the browser tests will be skipped"

unit: $(STAMP) peer browser
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck unit

# The performance table against Postfix (medians of RUNS runs; about 15 minutes a round
# on 2 cores), its machine-readable lines in bench/results/, and the README's table.
RUNS ?= 3
bench: $(STAMP)
	bash bench/ensure-postfix.sh
	$(BIN)/python bench/suite.py --runs $(RUNS)
	$(BIN)/python bench/readme.py

# Every benchmark once at a tenth of its volume: checks the harness, quotes nothing.
bench-quick: $(STAMP)
	bash bench/ensure-postfix.sh
	$(BIN)/python bench/suite.py --quick

# The benchmarks outside the table: pacing accuracy, health, events, DKIM throughput
# with webhooks, scale-out on PostgreSQL and the shared limiter.
bench-more: $(STAMP)
	bash bench/ensure-postfix.sh
	bench/throughput
	$(BIN)/python bench/pacing.py
	$(BIN)/python bench/health.py
	$(BIN)/python bench/events.py
	bench/throughput --skip-postfix --events
	$(BIN)/python bench/scale.py

# tests/scale's scenarios scaled up: 20,000 deliveries, 4 workers (PostgreSQL; not in `test`).
soak: $(STAMP)
	SOAK=1 $(BIN)/pytest -q tests/scale -s

# PNGs of the dashboard's main pages for the README (not part of the test command).
screenshots: $(STAMP) browser
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
