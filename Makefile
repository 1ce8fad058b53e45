# Everything runs from a project-local virtual environment that this file
# builds from the lock file; a fresh machine needs only python3.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test lint format typecheck bench clean

$(STAMP): requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/ability serve

lint: install
	$(BIN)/ruff format --check src tests load_tests scripts
	$(BIN)/ruff check src tests load_tests scripts

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

format: install
	$(BIN)/ruff format src tests load_tests scripts
	$(BIN)/ruff check --fix src tests load_tests scripts

bench: install
	$(BIN)/ability bench $(BENCH_ARGS)

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
