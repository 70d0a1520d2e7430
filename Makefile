# Set-up and everyday commands. Each target creates or reuses the virtual environment by itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv demo default-model test lint bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $@

# Score the example photos committed to the repo with the bundled default model.
demo: venv
	$(BIN)/photoscore score examples/ --output build/demo/scores.json
	$(BIN)/photoscore rank examples/ --html build/demo/sheet.html

# Rebuild the bundled default model from ../shared/data/livec (cross-validation + final training).
default-model: venv
	$(BIN)/python recipes/livec_technical/reproduce.py

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src tests scripts recipes
	$(BIN)/ruff format --check src tests scripts recipes

bench: venv
	$(BIN)/python scripts/benchmark_score.py

clean:
	rm -rf build .pytest_cache
