# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: build every registry of the demo workspace through Dagster (seal, check, promote), then
##      validate what is active (folders of failed builds are kept as evidence: validate --all)
run: $(STAMP)
	$(BIN)/registry init .
	$(BIN)/registry build
	$(BIN)/registry validate --active

## test: lint, type-check and run the whole suite (test files spread over up to 4 worker processes)
test: $(STAMP) lint
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check registry_pipeline registry_pipeline_tests benchmarks
	$(BIN)/mypy

## bench: the benchmarks of docs/benchmarks.md (minutes; not part of `make test`)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .codex/.staging
