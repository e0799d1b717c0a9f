# aquaflow: the commands. `make demo` runs the main job, `make test` the checks.
.PHONY: venv demo test lint typecheck unit integration e2e slow chaos models triton deepaas bench clean

VENV := .venv
PY := $(VENV)/bin/python
MYPY_PACKAGES := -p aquaflow_shared -p aquaflow_ingest -p aquaflow_router -p aquaflow_inference -p aquaflow_results -p aquaflow_devstack -p aquaflow_cli

venv:
	@scripts/bootstrap.sh

# Start the stack natively (RabbitMQ here, moto S3, Triton from the wheel, the four
# services), upload the sample images, print and save the results, stop everything.
demo: venv
	$(PY) -m aquaflow_devstack.demo

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: venv
	$(PY) -m mypy $(MYPY_PACKAGES)
	$(PY) -m mypy examples
	$(PY) -m mypy modules/deepaas-plankton/src

# ruff, mypy and the default suite (unit, integration, end-to-end; not the slow runs).
test: lint typecheck
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

integration: venv
	$(PY) -m pytest tests/integration

e2e: venv
	$(PY) -m pytest tests/e2e

# Fault runs and other long scenarios, kept out of the default run.
slow: venv
	$(PY) -m pytest -m slow

# The fault run: 2,000 uploads while every part of the stack fails (about 10 minutes);
# prints a table and writes out/chaos/chaos.json. `make chaos ARGS=--quick` for a short one.
chaos: venv
	$(PY) -m aquaflow_devstack.chaos $(ARGS)

# Retrain every model and rewrite the model cards' metrics (CPU, minutes).
models: venv
	$(PY) -m training.train_all

# Serve model_repository/ with the Triton binary from the wheel, in the foreground.
triton: venv
	$(PY) -m aquaflow_devstack.triton --repository model_repository --workdir build/triton

# The benchmark: aquaflow end to end against raw Triton, ONNX Runtime and the OSCAR baseline on two
# models (about half an hour on 2 CPUs); writes out/bench/bench.{json,md,png}. `make bench ARGS=--quick` for a short one.
bench: venv
	$(PY) -m aquaflow_devstack.bench $(ARGS)

# Serve the plankton classifier as a DEEPaaS module (deepaas-run from .venv-deepaas, made on first use) on :5000.
deepaas: venv
	$(PY) -m aquaflow_devstack.deepaas --port 5000

clean:
	rm -rf build out .pytest_cache .mypy_cache .ruff_cache
