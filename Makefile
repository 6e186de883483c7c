# relaylane: every target installs what it needs first (.venv is made when missing).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit peer browser bench soak screenshots clean

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

bench: $(STAMP)
	bash bench/ensure-postfix.sh
	bench/throughput
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/dkim_signing.py
	$(BIN)/python bench/pacing.py
	$(BIN)/python bench/health.py
	$(BIN)/python bench/events.py
	bench/throughput --skip-postfix --events
	$(BIN)/python bench/campaign.py
	$(BIN)/python bench/scale.py

# tests/scale's scenarios scaled up: 20,000 deliveries, 4 workers (PostgreSQL; not in `test`).
soak: $(STAMP)
	SOAK=1 $(BIN)/pytest -q tests/scale -s

# PNGs of the dashboard's main pages for the README (not part of the test command).
screenshots: $(STAMP) browser
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
