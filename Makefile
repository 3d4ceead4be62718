# Two commands on a fresh machine: `make run` and `make test` (`make test-full`: every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: run test test-full lint bench lock clean

# The venv from the lock, with uv when the package index has it, else pip (INSTALLER=pip forces
# pip); quiet unless a step fails. The log: .venv/install.log.
$(STAMP): pyproject.toml $(LOCK) .ci/install
	@bash .ci/install $(PYTHON)

## run: build every registry of the demo workspace through Dagster (seal, check, promote), then
##      validate what is active (folders of failed builds are kept as evidence: validate --all)
run: $(STAMP)
	$(BIN)/registry init .
	$(BIN)/registry build
	$(BIN)/registry validate --active

## test: lint, type-check and run the default tier of the suite (every command and medium, a few
##       Hypothesis examples), tests spread over one worker process per core, at most 4 (an idle
##       worker takes over tests queued for a busy one), naming the 10 slowest at the end; lint
##       runs beside the tests at a lower priority (on the CPU they leave idle: waits on servers,
##       a browser, a clock) and its output follows theirs
## test-full: the whole suite (the `full` tier too: registry_pipeline_tests/conftest.py says
##       which tests and why) with Hypothesis's full example counts; `.ci/run` runs both
# Bytecode caches are written even where PYTHONDONTWRITEBYTECODE is set: without them each of the
# suite's Python processes compiles Dagster again and each worker rewrites every test module.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n auto --maxprocesses 4 \
	--dist worksteal --durations=10
test: $(STAMP)
	@log=$$(mktemp); nice -n 10 $(MAKE) --no-print-directory lint >"$$log" 2>&1 & lint=$$!; \
	REGISTRY_TEST_TIER=default $(PYTEST) -m "not full"; tests=$$?; \
	wait $$lint; linted=$$?; cat "$$log"; rm -f "$$log"; \
	if [ $$linted -ne 0 ]; then echo "make test: lint failed (above)" >&2; fi; \
	[ $$tests -eq 0 ] && [ $$linted -eq 0 ]

test-full: $(STAMP)
	REGISTRY_TEST_TIER=full $(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check registry_pipeline registry_pipeline_tests benchmarks examples
	$(BIN)/ruff format --check --quiet registry_pipeline registry_pipeline_tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

## bench: the benchmarks of docs/benchmarks.md (minutes; not part of `make test`)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

## lock: pin pyproject.toml's dependencies (every extra, every platform, with hashes) in
##       requirements.lock, keeping the pins that still fit; LOCK_ARGS=--upgrade takes the newest
lock:
	@bash .ci/install --lock $(LOCK_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .codex/.staging
