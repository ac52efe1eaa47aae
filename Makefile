# make help lists the targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= data/synthetic/default
DEBTORS ?= 20000
SEED ?= 1
TRIALS ?= 20
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install data validate train serve run test lint format bench clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/scoring: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/scoring  ## create .venv and install the package with its dev tools

data: install  ## generate the synthetic data set (DEBTORS, SEED, DATA)
	$(BIN)/scoring generate --out $(DATA) --debtors $(DEBTORS) --seed $(SEED)

validate: install  ## validate DATA against the contract
	$(BIN)/scoring validate --data $(DATA)

run: data  ## the main job: generate, validate (more stages are chained here as they land)
	$(BIN)/scoring validate --data $(DATA)

test: install  ## lint, format check and the test suite
	$(BIN)/ruff check src tests training serving benchmarks
	$(BIN)/ruff format --check src tests training serving benchmarks
	$(BIN)/python -m pytest

lint: install  ## ruff check
	$(BIN)/ruff check src tests training serving benchmarks

format: install  ## ruff format + autofix
	$(BIN)/ruff format src tests training serving benchmarks
	$(BIN)/ruff check --fix src tests training serving benchmarks

clean:  ## remove generated data, models and caches (keeps the sample)
	rm -rf models mlruns $(DATA) .pytest_cache .ruff_cache
