# `make run`: set up everything and run the pipeline (`dvc repro`) on the embedded sample.
# `make test`: set up everything and run the test suite.
# Every target is idempotent: existing environments are reused, and only rebuilt when their lock changes.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
LS_VENV := .venv-ls
PY := $(VENV)/bin/python
CACHE := .cache
VEGA := $(CACHE)/vega/node_modules
PLOTS_TEMPLATE := $(CACHE)/dvc_plots_template.html
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install setup plots serve-ui labelstudio clean-env bench release

# Ends with ours vs the MediaPipe baselines, a verdict and where to look next (`dvc metrics show`: every figure).
run: setup
	dvc repro
	@$(PY) -m training summary

test: setup $(LS_VENV)/.installed chromium
	pytest -q $(PYTEST_ARGS)

setup: install $(PLOTS_TEMPLATE) git-repo

install: $(VENV)/.installed

# The main environment: torch from its CPU wheel first, then everything else in one resolve,
# constrained by the measured pins (constraints.txt) and the lock of a known-good resolve.
$(VENV)/.installed: pyproject.toml constraints.txt requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -c requirements.lock -e '.[test]'
	$(PY) -m pip check
	@touch $@

# The Label Studio server lives in its own venv (in the main one it downgrades Prefect and others).
$(LS_VENV)/.installed: requirements-labelstudio.lock
	@test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q -c requirements-labelstudio.lock label-studio
	@touch $@

labelstudio: $(LS_VENV)/.installed

# `dvc plots show` loads vega from a CDN by default; this template inlines the libraries (npm registry).
$(VEGA)/vega-embed/build/vega-embed.min.js:
	npm install --silent --no-audit --no-fund --prefix $(CACHE)/vega vega@5.33.0 vega-lite@5.23.0 vega-embed@6.29.0

$(PLOTS_TEMPLATE): $(VEGA)/vega-embed/build/vega-embed.min.js training/plots_template.py
	$(PY) -m training plots-template --node-modules $(VEGA) --out $@

# Headless Chromium for the report test (Debian's package).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# DVC needs a git repository; a downloaded tarball has none.
git-repo:
	@git rev-parse --git-dir >/dev/null 2>&1 || { git init -q && git add -A && git -c user.name=setup -c user.email=setup@localhost commit -qm "initial"; }

plots: setup
	$(PY) -m training plots --template $(PLOTS_TEMPLATE) --out reports/plots

# The released model (README "The release model"): the same stages over the real people in ../shared/data
# (profile release/params.yaml, outputs under release/), then training/weights/ with its model card.
release: setup
	cp release/pipeline.yaml release/dvc.yaml
	trap 'rm -f release/dvc.yaml' EXIT; dvc repro release/dvc.yaml && $(PY) -m training release

bench: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

clean-env:
	rm -rf $(VENV) $(LS_VENV) $(CACHE)
