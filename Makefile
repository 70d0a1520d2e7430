# Set-up and everyday commands. Each target creates or reuses the virtual environment by itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_MODEL := build/demo/untrained-efficientnet-lite0.onnx

.PHONY: venv demo test lint bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $@

# Score the example photos committed to the repo.
demo: venv
	$(BIN)/photoscore models list
	test -f $(DEMO_MODEL) || $(BIN)/photoscore export --backbone EfficientNetLite0 --weights offline --out $(DEMO_MODEL)
	$(BIN)/photoscore score examples/ --model $(DEMO_MODEL) --output build/demo/scores.json

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

bench: venv
	$(BIN)/python scripts/benchmark_score.py

clean:
	rm -rf build .pytest_cache
