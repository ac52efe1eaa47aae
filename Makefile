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
.PHONY: help install lock data validate train serve run ui stack test lint format bench kpis report notebooks clean

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

stack: install  ## PostgreSQL + mlflow server + two replicas on 8001/8002 (STACK_PG_URL: your server); Ctrl-C stops
	$(BIN)/python benchmarks/stack.py --data $(DATA) --debtors $(DEBTORS) --seed $(SEED) --trials $(TRIALS)

test: install  ## lint, format check, layers contract and the test suite
	$(BIN)/ruff check src tests training serving benchmarks
	$(BIN)/ruff format --check src tests training serving benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest

# make lowest: the versions of LOWEST_VENV's direct dependencies (no argument), or
# benchmarks/results/lowest.json from pytest's JUnit file (arguments: junit start rc)
define LOWEST_REPORT
import json, sys, time, tomllib, datetime, platform
import xml.etree.ElementTree as ET
from importlib.metadata import version
from packaging.requirements import Requirement
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
found = {r.name: version(r.name) for r in sorted(reqs, key=lambda r: r.name.lower())}
if len(sys.argv) == 1:
    for name, v in found.items():
        print(f"  {name}=={v}")
    raise SystemExit(0)
junit, start, rc = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
suite = ET.parse(junit).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
result = {
    "command": "make lowest (uv pip install --resolution lowest-direct -e '.[dev]', then python -m pytest)",
    "date": datetime.date.today().isoformat(),
    "python": platform.python_version(),
    "direct_dependencies": found,
    "pytest": {
        "passed": n["tests"] - n["failures"] - n["errors"] - n["skipped"],
        "failed": n["failures"],
        "errors": n["errors"],
        "skipped": n["skipped"],
        "exit_code": rc,
        "seconds": round(float(suite.get("time", 0))),
    },
    "total_seconds": round(time.time() - start),
}
with open("benchmarks/results/lowest.json", "w") as f:
    f.write(json.dumps(result, indent=2) + "\n")
print("benchmarks/results/lowest.json:", result["pytest"], "total", result["total_seconds"], "s")
endef
export LOWEST_REPORT
LOWEST_VENV ?= /tmp/scoring-lowest-venv
LOWEST_PY ?= python3.11
# uv from PATH, else from a throwaway venv (uv reads PyPI, not pip.conf: set UV_INDEX_URL for a mirror)
UV ?= $(shell command -v uv 2>/dev/null || echo /tmp/scoring-uv-venv/bin/uv)
.PHONY: lowest

lowest:  ## the tests at the lowest versions pyproject.toml allows (uv --resolution lowest-direct); before each release
	@date +%s > $(LOWEST_VENV).start
	@test -x $(UV) || { $(PY) -m venv /tmp/scoring-uv-venv && /tmp/scoring-uv-venv/bin/pip install -q uv; }
	rm -rf $(LOWEST_VENV)
	$(UV) venv -q --python $(LOWEST_PY) --no-python-downloads $(LOWEST_VENV)
	VIRTUAL_ENV=$(LOWEST_VENV) $(UV) pip install -q --resolution lowest-direct -e '.[dev]'
	@echo "direct dependencies at their lowest allowed versions:"; $(LOWEST_VENV)/bin/python -c "$$LOWEST_REPORT"
	$(LOWEST_VENV)/bin/python -m pytest -p no:warnings -q --junitxml=$(LOWEST_VENV)/junit.xml; rc=$$?; \
		$(LOWEST_VENV)/bin/python -c "$$LOWEST_REPORT" $(LOWEST_VENV)/junit.xml $$(cat $(LOWEST_VENV).start) $$rc; exit $$rc

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
