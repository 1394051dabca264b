# skyfence: the two quick-start targets set up a local virtual environment (.venv) first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## Main job: the built-in default scenario, outputs under out/default
run: $(STAMP)
	$(BIN)/skyfence run --out out/default

## Whole test suite, plus the linter
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/propagate.py

clean:
	rm -rf $(VENV) out .pytest_cache
