# Cairn: `make serve` runs the server on its embedded default; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: serve test lint typecheck layers pytest chromium bench nightly clean

$(STAMP): pyproject.toml setup.py src/cairn/_md5x.c  # the C file: its module is built by the install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/cairn server

test: lint typecheck layers pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) chromium
	$(BIN)/pytest

chromium:  # Debian's Chromium, for the Playwright web tests (tests/web)
	scripts/ensure-chromium.sh

nightly: $(STAMP) chromium  # the long runs: 200 fuzz examples per operation and mode
	CAIRN_FUZZ_EXAMPLES=200 $(BIN)/pytest tests/api/test_fuzz_schema.py

bench: $(STAMP)
	$(BIN)/python -m bench.registries --backend both

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-output
