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

# exit 0 when the registry holds champion models (make run then serves them)
define HAS_CHAMPION
from scoring import registry
registry.setup_mlflow()
v = registry.alias_versions(registry.ALL_MODELS, "champion")
raise SystemExit(0 if any(x is not None for x in v.values()) else 1)
endef
export HAS_CHAMPION
.PHONY: help install lock data validate train serve run ui test lint format bench kpis report notebooks clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/scoring: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	@touch $@

install: $(BIN)/scoring  ## create .venv and install the package with its dev tools (versions of requirements.lock)

lock: install  ## rewrite requirements.lock from pyproject.toml's ranges (newest allowed versions)
	$(PY) -m venv /tmp/scoring-lock-venv
	/tmp/scoring-lock-venv/bin/pip install -q --upgrade pip
	/tmp/scoring-lock-venv/bin/pip install -q -e '.[dev]'
	{ head -3 requirements.lock; /tmp/scoring-lock-venv/bin/pip freeze --exclude-editable | grep -v '^scoring=='; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock
	rm -rf /tmp/scoring-lock-venv

data: install  ## generate the synthetic data set (DEBTORS, SEED, DATA)
	$(BIN)/scoring generate --out $(DATA) --debtors $(DEBTORS) --seed $(SEED)

validate: install  ## validate DATA against the contract
	$(BIN)/scoring validate --data $(DATA)

train: install  ## train, log and register every model on DATA (TRIALS per model)
	$(BIN)/scoring train --data $(DATA) --trials $(TRIALS)

serve: install  ## serve the champion models over HTTP on HOST:PORT
	$(BIN)/scoring serve --host $(HOST) --port $(PORT)

run: install  ## the main job: generate the data and train (only what is missing), then serve
	@test -f $(DATA)/debtors.parquet || $(BIN)/scoring generate --out $(DATA) --debtors $(DEBTORS) --seed $(SEED)
	@$(BIN)/python -c "$$HAS_CHAMPION" 2>/dev/null \
		&& echo "champion models found in models/: serving them (make train to retrain)" \
		|| $(BIN)/scoring train --data $(DATA) --trials $(TRIALS)
	$(BIN)/scoring serve --host $(HOST) --port $(PORT)

ui: install  ## the MLflow UI on the embedded store (runs, metrics, plots, model cards)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/models/mlflow.db \
		--default-artifact-root $(CURDIR)/models/artifacts --host $(HOST) --port 5000

test: install  ## lint, format check, layers contract and the test suite
	$(BIN)/ruff check src tests training serving benchmarks
	$(BIN)/ruff format --check src tests training serving benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: install  ## ruff check
	$(BIN)/ruff check src tests training serving benchmarks

format: install  ## ruff format + autofix
	$(BIN)/ruff format src tests training serving benchmarks
	$(BIN)/ruff check --fix src tests training serving benchmarks

bench: install  ## the benchmarks (long: 100,000 debtors); results in benchmarks/results/
	$(BIN)/scoring generate --out data/synthetic/bench100k --debtors 100000 --seed 1
	$(BIN)/python benchmarks/bench_generate.py --debtors 100000 --seed 1
	$(BIN)/python benchmarks/bench_cases.py --data data/synthetic/bench100k
	$(BIN)/python benchmarks/bench_train.py --data data/synthetic/bench100k --trials 30
	$(BIN)/scoring train --data $(DATA) --trials $(TRIALS)
	$(BIN)/python benchmarks/bench_policy.py --data $(DATA)
	$(BIN)/python benchmarks/bench_batch.py --data data/synthetic/bench100k
	$(BIN)/python benchmarks/bench_api.py --home models
	$(BIN)/python benchmarks/bench_dask.py --data data/synthetic/bench100k --cases 200000

kpis: install  ## collection KPIs of DATA against the targets (table + chart in reports/)
	$(BIN)/scoring kpis --data $(DATA) --out reports

report: install  ## the compliance report of the champion models (reports/compliance.html)
	$(BIN)/scoring report --alias champion --out reports/compliance.html --data $(DATA)

notebooks: install  ## open the analysts' notebooks (they run top to bottom on the sample)
	$(BIN)/python -m jupyter notebook notebooks/ || echo "install jupyter to open them: $(BIN)/pip install notebook"

clean:  ## remove generated data, models and caches (keeps the sample)
	find models -mindepth 1 ! -name README.md -exec rm -rf {} + 2>/dev/null || true
	rm -rf mlruns $(DATA) .pytest_cache .ruff_cache
