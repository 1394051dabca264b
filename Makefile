# skyfence: the two quick-start targets set up a local virtual environment (.venv) first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The de facto Natural Earth edition (Crimea drawn in Russia) comes from the npm package
# world-atlas (NE 4.1 TopoJSON); no PyPI package ships it. It goes into the user cache.
SKYFENCE_CACHE ?= $(or $(SKYFENCE_CACHE_DIR),$(HOME)/.cache/skyfence)
WORLD_ATLAS := $(SKYFENCE_CACHE)/npm/node_modules/world-atlas/countries-10m.json
# The offline Cesium viewer (skyfence view) uses the npm package cesium from the same cache.
# npm --no-save removes what an install into the prefix does not name, so every install names
# every package the project uses there (maplibre-gl: the web console of skyfence serve).
CESIUM := $(SKYFENCE_CACHE)/npm/node_modules/cesium/Build/Cesium/Cesium.js
NPM_PACKAGES := world-atlas@2.0.2 maplibre-gl@5.24.1 cesium@1.145.0
# Debian's chromium for the viewer's browser test (Playwright cannot download its own).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test lint bench clean browser

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(WORLD_ATLAS) $(CESIUM) &:
	npm install --prefix "$(SKYFENCE_CACHE)/npm" --no-save --no-audit --no-fund --loglevel=error $(NPM_PACKAGES)

browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver; }

setup: $(STAMP) $(WORLD_ATLAS) $(CESIUM)

## Main job: the built-in default scenario, outputs under out/default
run: $(STAMP) $(WORLD_ATLAS)
	$(BIN)/skyfence run --out out/default

## Whole test suite, plus the linter
test: $(STAMP) $(WORLD_ATLAS) $(CESIUM) browser
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/propagate.py

clean:
	rm -rf $(VENV) out .pytest_cache
