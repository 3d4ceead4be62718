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

## run: seal and validate the demo registries this repository ships
run: $(STAMP)
	$(BIN)/registry init .
	$(BIN)/registry seal registries/expected_versions/EXPECTED_VERSIONS_v0_1.json --registry-id expected_versions
	$(BIN)/registry seal registries/migration_ledger/applied_migrations.json --registry-id migration_ledger
	$(BIN)/registry seal registries/threshold_packs --registry-id threshold_packs
	$(BIN)/registry seal registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json --registry-id allowed_operations
	$(BIN)/registry validate --all

## test: lint, type-check and run the whole suite
test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check registry_pipeline registry_pipeline_tests benchmarks
	$(BIN)/mypy

## bench: the benchmarks of docs/benchmarks.md (minutes; not part of `make test`)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .codex/.staging
