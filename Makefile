# One entry point for newcomers and CI: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup web web-check system demo serve test check unit integration e2e screenshots bench bench-ingest faults clean

WEB_STAMP := src/farmbridge/web/index.html
# npm ci writes it; the dashboard's lint, tests and build share one install.
NODE_STAMP := web-admin/node_modules/.package-lock.json
# The suite runs on every core, each test file on one worker (a file's shared servers are
# started once), and ends with its slowest tests.
PYTEST_PARALLEL := -n auto --dist loadfile

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

$(NODE_STAMP): web-admin/package-lock.json web-admin/package.json
	cd web-admin && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# The dashboard's build goes into the package, so the wheel carries it.
$(WEB_STAMP): $(shell find web-admin/src -type f 2>/dev/null) $(NODE_STAMP) web-admin/index.html
	cd web-admin && npm run build

web: $(WEB_STAMP)

web-check: $(NODE_STAMP)
	cd web-admin && npm run lint && npm test

# Debian's packages the tests start themselves: Chromium for the end-to-end tests
# (Playwright drives it; it downloads nothing), Mosquitto for the MQTT tests,
# redis-server for the backplane test and PostgreSQL for the store on PostgreSQL.
SYSTEM_PACKAGES := chromium mosquitto mosquitto-clients openssl redis-server postgresql nginx-light
system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

demo: setup web
	$(BIN)/farmbridge demo

serve: setup
	$(BIN)/farmbridge serve

check: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest tests/unit -q

integration: setup system
	$(BIN)/pytest tests/integration -q

e2e: setup web system
	$(BIN)/pytest tests/e2e -q

test: check web-check web system
	$(BIN)/pytest -q $(PYTEST_PARALLEL) --durations=15

# The documentation's screenshots: the end-to-end scenes, written to docs/screenshots/
# (a test run writes them nowhere).
screenshots: setup web system
	FARMBRIDGE_E2E_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/e2e/test_dashboard.py tests/e2e/test_dashboard_truth.py tests/e2e/test_live_figures.py -q

# The benchmark suite (bench/suite.py): every module in one run, JSON and plots into
# docs/benchmarks/, docs/benchmarks.md regenerated. BENCH_ARGS="--ci" is the small size,
# BENCH_ARGS="--only latency --compare docs/benchmarks/bench.json" one module against the last run.
bench: setup system
	PYTHONPATH=src:. $(BIN)/python -m bench.suite $(BENCH_ARGS)

# The ingest bench alone (docs/benchmarks-notes.md).
bench-ingest: setup
	$(BIN)/python bench/ingest.py

# The fault suite's long runs (docs/reliability.md); CI runs their short versions.
faults: setup
	HYPOTHESIS_PROFILE=long $(BIN)/pytest -q --timeout=0 tests/unit/test_fuzz_*.py
	$(BIN)/python -m bench.faults
	$(BIN)/python -m bench.churn
	$(BIN)/python -m bench.fuzz_api

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
