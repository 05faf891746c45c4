# Two commands do everything on a fresh machine with Python 3.11 and pip:
#   make run    the main job on the default synthetic Social CRM data set (data to CLV and churn models)
#   make test   run the test suite
# Both build .venv from uv.lock first (exact versions, nothing installed by hand).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
# Keep every cache inside the checkout: nothing lands in the home folder.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_CACHE_DIR := $(abspath .cache/uv)
export MPLCONFIGDIR := $(abspath .cache/matplotlib)
export PYTENSOR_FLAGS := compiledir=$(abspath .cache/pytensor)
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: help env env-spark run test lint format repro params ui lab server serve bench clean

help:
	@echo "make run    - the main job: generate, validate, ingest, features, insight report, CLV and churn models"
	@echo "make test   - run the tests"
	@echo "make lint   - ruff check and format check"
	@echo "make repro  - reproduce the DVC pipeline (dvc.yaml) as an experiment: dvc exp run"
	@echo "make params - recompose params.yaml from conf/ (what dvc exp run does first)"
	@echo "make ui     - open the MLflow UI on the repo's tracking store"
	@echo "make lab    - JupyterLab on notebooks/ (see the README's Notebooks section)"
	@echo "make server - an MLflow tracking server on that store (runs log to it with tracking=server)"
	@echo "make serve  - the registered model over REST on port 5001 (TASK=churn ALIAS=champion by default)"
	@echo "make bench  - the main-job, generator and feature benchmarks"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

# The tests also need the optional `spark` group (pyspark; `make run` never does). A
# plain sync is exact and removes pyspark again, but it also touches (or recreates)
# .synced, which makes this stamp stale: the next `make test` syncs the group back.
# No --python here: .synced made the environment, and a --python that names a shim
# (pyenv) makes uv replace the whole environment, stamps included.
$(VENV)/.synced-spark: $(VENV)/.synced uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --group spark
	@touch $@

env: $(VENV)/.synced

env-spark: $(VENV)/.synced-spark

run: env
	$(PY) -m socialcrm.cli run

test: env-spark
	$(PY) -m pytest -n 2 --dist loadgroup

lint: env
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: env
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

# The UI opens in its GenAI view, which hides training runs: the printed link opens the
# machine-learning view. One worker is plenty for one person.
UI_URL := http://127.0.0.1:5000/\#/experiments?workflowType=machine_learning

ui: env  ## the MLflow UI on the repo's tracking store (http://127.0.0.1:5000)
	@echo "MLflow UI (training runs): $(UI_URL)"
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(abspath mlruns)/mlflow.db \
		--default-artifact-root $(abspath mlruns)/artifacts --host 127.0.0.1 --port 5000 \
		--workers 1

lab: env  ## JupyterLab on notebooks/ (a throwaway layer over .venv: JupyterLab is not in the lock)
	$(UV) run --frozen --with jupyterlab jupyter lab notebooks/

server: env  ## an MLflow tracking server (http://127.0.0.1:5000) that stores and serves artifacts
	$(VENV)/bin/mlflow server --backend-store-uri sqlite:///$(abspath mlruns)/mlflow.db \
		--artifacts-destination $(abspath mlruns)/artifacts --host 127.0.0.1 --port 5000 --workers 2

# REST scoring of a registered model: POST /invocations, GET /ping (see the README).
# `mlflow models serve` starts `uvicorn` by name, hence .venv/bin on PATH.
TASK ?= churn
ALIAS ?= champion
SERVE_PORT ?= 5001
SERVE_WORKERS ?= 1
SERVE_TIMEOUT ?= 60

serve: env  ## the registered model socialcrm-$(TASK)@$(ALIAS) over REST (http://127.0.0.1:5001)
	PATH=$(abspath $(VENV))/bin:$$PATH MLFLOW_TRACKING_URI=sqlite:///$(abspath mlruns)/mlflow.db \
		$(VENV)/bin/mlflow models serve -m models:/socialcrm-$(TASK)@$(ALIAS) --env-manager local \
		--host 127.0.0.1 --port $(SERVE_PORT) --workers $(SERVE_WORKERS) --timeout $(SERVE_TIMEOUT)

# DVC composes conf/ into params.yaml (committed, hence no machine-specific variables).
DVC_ENV := env -u SOCIALCRM_ROOT -u SOCIALCRM_SALT -u SOCIALCRM_SHARED_DATA -u SOCIALCRM_N_JOBS \
	PATH=$(abspath $(VENV))/bin:$$PATH

repro: env
	$(DVC_ENV) $(VENV)/bin/dvc exp run

params: env
	$(DVC_ENV) $(PY) -c 'from dvc.utils.hydra import compose_and_dump as c; \
		c("params.yaml", "$(abspath conf)", None, "config", "$(abspath .)", [])'

bench: env-spark
	$(PY) benchmarks/main_job.py
	$(PY) benchmarks/generate_large.py
	$(PY) benchmarks/features_one_cutoff.py
	$(PY) benchmarks/features_one_cutoff.py data=synthetic_large
	$(PY) benchmarks/features_golden.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/train_sample.py
	$(PY) benchmarks/features_engines.py --customers 100000

clean:
	rm -rf $(VENV) $(TOOLS) .cache .pytest_cache logs
