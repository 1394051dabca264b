# skyfence: the two quick-start targets set up a local virtual environment (.venv) first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The de facto Natural Earth edition (Crimea drawn in Russia) comes from the npm package
# world-atlas (NE 4.1 TopoJSON); no PyPI package ships it. It goes into the user cache.
SKYFENCE_CACHE ?= $(or $(SKYFENCE_CACHE_DIR),$(HOME)/.cache/skyfence)
WORLD_ATLAS := $(SKYFENCE_CACHE)/npm/node_modules/world-atlas/countries-10m.json
# The web console (skyfence serve) draws with MapLibre GL JS and documents its API with Swagger
# UI, both served by the app from the same npm folder (no CDN). npm prunes packages an install does not name, so every install names
# all of them.
MAPLIBRE := $(SKYFENCE_CACHE)/npm/node_modules/maplibre-gl/dist/maplibre-gl.js
NPM_PACKAGES := world-atlas@2.0.2 maplibre-gl@5.24.1 swagger-ui-dist@5.35.0
# Browser tests of the console (Playwright) drive Debian's chromium; apt installs it if missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(WORLD_ATLAS) $(MAPLIBRE) &:
	npm install --prefix "$(SKYFENCE_CACHE)/npm" --no-save --no-audit --no-fund --loglevel=error $(NPM_PACKAGES)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver

setup: $(STAMP) $(WORLD_ATLAS) $(MAPLIBRE) $(CHROMIUM)

## Main job: the built-in default scenario, outputs under out/default
run: $(STAMP) $(WORLD_ATLAS)
	$(BIN)/skyfence run --out out/default

## Whole test suite, plus the linter
test: $(STAMP) $(WORLD_ATLAS) $(MAPLIBRE) $(CHROMIUM)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/propagate.py
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) out .pytest_cache
