# Two commands on a fresh machine: `make run` and `make test`. Everything installs itself into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CDK := infra/node_modules/.bin/cdk
WHEELHOUSE := .build/wheelhouse/.downloaded
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install run test lint typecheck unit openapi synth deploy wheelhouse bench admin clean

$(STAMP): requirements.txt requirements-dev.txt sdk/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Serve the API on http://127.0.0.1:$${PORT:-8000} with an embedded AWS emulator and demo data.
run: install
	$(BIN)/python -m infra.local

## The whole suite: lint, format check, types, then every test tier.
test: install lint typecheck
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy app.py infra functions shared benchmarks sdk/src

## Regenerate docs/openapi.json from the API code (a test fails while they differ).
openapi: install
	$(BIN)/python -m infra.openapi

## Wheels for the Lambda layer, for the functions' platform; synth then builds the layer with no network.
## Downloaded once per change of requirements.txt (the package registry is the only network it needs).
wheelhouse: $(WHEELHOUSE)

$(WHEELHOUSE): requirements.txt | install
	$(BIN)/python -m infra.layer download
	touch $(WHEELHOUSE)

## `cdk synth` with no AWS account and no network (once the wheelhouse and the CDK CLI are installed).
synth: install $(WHEELHOUSE) $(CDK)
	$(CDK) synth --quiet

## `cdk deploy` with your AWS credentials, e.g. `make deploy ARGS="-c alarm_email=oncall@example.com"`.
deploy: install $(WHEELHOUSE) $(CDK)
	$(CDK) deploy $(ARGS)

# The pinned CDK CLI (the app itself is Python: app.py, infra/).
$(CDK): infra/package.json infra/package-lock.json
	npm ci --prefix infra --no-audit --no-fund --loglevel=error
	touch $(CDK)

## AWS requests per operation and handler import times, as JSON.
bench: install
	$(BIN)/python benchmarks/bench.py

## Operators' command, e.g. `make admin ARGS="--local tenants list"`.
admin: install
	$(BIN)/python -m infra.admin $(ARGS)

clean:
	rm -rf $(VENV) cdk.out .build .local infra/node_modules .pytest_cache .mypy_cache .ruff_cache
