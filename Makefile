# Developer entry points. Everything runs from .venv, created by scripts/bootstrap.sh.

VENV := .venv
BIN := $(VENV)/bin
SRC := ferryman tests
PYTEST_ARGS ?=

.PHONY: all venv test test-fast lint fmt demo clean

all: test

venv:
	./scripts/bootstrap.sh

lint: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy

test: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy
	$(BIN)/pytest --durations=15 $(PYTEST_ARGS)

# The edit-test loop (< 1 min): lint, types, and the tests that need no server and are not
# marked slow (tests/conftest.py marks every test that uses a server). `make test` runs them all.
test-fast: $(BIN)/pytest
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy
	$(BIN)/pytest -m "not servers and not slow" $(PYTEST_ARGS)

$(BIN)/pytest:
	./scripts/bootstrap.sh

fmt: venv
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

demo: venv
	$(BIN)/python -m ferryman.demo

clean:
	$(BIN)/python -c "from ferryman.testing.servers import cleanup_leftovers as c; c()" 2>/dev/null || true
	rm -rf build dist .mypy_cache .pytest_cache .ruff_cache
	find ferryman tests -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: bench bench-cutover
bench:
	./bench/setup.sh
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	if [ -z "$(BENCH_ARGS)" ]; then $(BIN)/python bench/cutover.py $(CUTOVER_ARGS); fi

bench-cutover: venv
	$(BIN)/python bench/cutover.py $(CUTOVER_ARGS)
