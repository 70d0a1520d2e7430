# Set-up and everyday commands. Each target creates or reuses the virtual environment by itself:
# `make demo` installs the scoring core only, every other target adds the extras to the same .venv
# (either can come first).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv core demo default-model livec-model test lint docs dist bench image clean

core: $(VENV)/.core
venv: $(VENV)/.installed

$(VENV)/.core: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(VENV)/.core requirements/train-no-deps.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/train-no-deps.txt
	touch $@

$(VENV)/.docs: $(VENV)/.core
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $@

# Score the example photos committed to the repo with the bundled default model (core only).
demo: core
	$(BIN)/photoscore score examples/ --output build/demo/scores.json
	$(BIN)/photoscore rank examples/ --html build/demo/sheet.html

# Rebuild the bundled default model from BIQ2021 (git clone https://github.com/nisarahmedrana/BIQ2021,
# BIQ2021=its folder) and ../shared/data/livec; the record goes to recipes/biq_technical/record/.
BIQ2021 ?= ../BIQ2021
default-model: venv
	$(BIN)/python recipes/biq_technical/reproduce.py --biq $(BIQ2021)

# Rebuild the earlier default model, livec-technical (LIVE photos only; still bundled, load it by name).
livec-model: venv
	$(BIN)/python recipes/livec_technical/reproduce.py

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src tests scripts recipes
	$(BIN)/ruff format --check src tests scripts recipes

# The docs site into build/site (no network needed).
docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

# The sdist and wheel into dist/, checked as PyPI would check them.
dist: venv
	rm -rf dist
	$(BIN)/python -m build --outdir dist
	$(BIN)/twine check --strict dist/*

bench: venv
	$(BIN)/python scripts/benchmark_score.py

# The scoring image (Dockerfile, default target). PIP_CERT, where set, goes to pip in the build as the
# BuildKit secret pipcert (a TLS-intercepting proxy's CA bundle); it never lands in a layer.
DOCKER ?= docker
IMAGE ?= photoscore
IMAGE_BUILD_ARGS ?=
PIPCERT ?= $(PIP_CERT)
PIPCERT_SECRET = --secret id=pipcert,src=$(PIPCERT)
image:
	DOCKER_BUILDKIT=1 $(DOCKER) build $(if $(PIPCERT),$(PIPCERT_SECRET)) $(IMAGE_BUILD_ARGS) -t $(IMAGE) .

clean:
	rm -rf build .pytest_cache
