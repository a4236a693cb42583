# Two commands on a fresh machine: `make run` and `make test`. Everything installs itself into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CDK := infra/node_modules/.bin/cdk
WHEELHOUSE := .build/wheelhouse/.downloaded
CHECKOV_VENV := .build/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := 1
export PYTHONDONTWRITEBYTECODE := 1
# The tests run on this machine's Python (3.11, the floor in pyproject.toml); Lambda runs this one
# (infra/functions.py LAMBDA_TARGET; a test keeps the two equal). Lint and types are checked against both.
LAMBDA_PYTHON := 3.14
TYPED := app.py infra functions shared benchmarks sdk/src

.PHONY: install run test lint typecheck unit openapi synth deploy bootstrap destroy wheelhouse bench bench-cold-start smoke admin scan clean

$(STAMP): requirements.txt requirements-dev.txt sdk/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Serve the API on http://127.0.0.1:$${PORT:-8000} with an embedded AWS emulator and demo data.
run: install
	$(BIN)/python -m infra.local

## The whole suite: lint, format check, types, cfn-lint and checkov on the templates, then every test tier.
test: install lint typecheck scan
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	# UP is left out: it proposes syntax of the newer version that the tests' interpreter cannot run.
	$(BIN)/ruff check --target-version py$(subst .,,$(LAMBDA_PYTHON)) --extend-ignore UP .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy $(TYPED)
	$(BIN)/mypy --python-version $(LAMBDA_PYTHON) $(TYPED)

## cfn-lint and checkov on the synthesized templates (dev, and prod with the WAF); checkov in its own virtualenv
## (requirements-scan.txt) because its dependency pins conflict with the project's.
scan: install $(CHECKOV_STAMP)
	$(BIN)/python -m infra.scan --checkov $(CHECKOV_VENV)/bin/checkov

$(CHECKOV_STAMP): requirements-scan.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $(CHECKOV_STAMP)

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

## Once per account and region: the CDK's bootstrap stack (asset bucket, deploy roles), e.g.
## `make bootstrap ARGS="aws://123456789012/eu-west-1"`.
bootstrap: install $(WHEELHOUSE) $(CDK)
	$(CDK) bootstrap $(ARGS)

## `cdk deploy` of one stage (and the account's API Gateway logging stack it depends on) with your AWS
## credentials, e.g. `make deploy ARGS="-c stage=prod -c alarm_email=oncall@example.com"` (stage dev by default).
deploy: install $(WHEELHOUSE) $(CDK)
	$(CDK) deploy --all $(ARGS)

## Delete a stage's stack, e.g. `make destroy ARGS="Gensail-dev"` or `ARGS="-c stage=qa Gensail-qa"`: a
## production stage keeps its table, buckets and log groups (and its stack has termination protection).
destroy: install $(WHEELHOUSE) $(CDK)
	$(CDK) destroy $(ARGS)

# The pinned CDK CLI (the app itself is Python: app.py, infra/).
$(CDK): infra/package.json infra/package-lock.json
	npm ci --prefix infra --no-audit --no-fund --loglevel=error
	touch $(CDK)

## AWS requests per operation and handler import times, as JSON.
bench: install
	$(BIN)/python benchmarks/bench.py

## Handler imports as Lambda loads them (read-only layer, no bytecode written) beside the floor, as JSON.
bench-cold-start: install
	$(BIN)/python benchmarks/cold_start.py

## The spec's curl flow against a deployed stack or `make run`, e.g. `make smoke ARGS="--stack NAME"` or `ARGS=--local`.
smoke: install
	$(BIN)/python -m infra.smoke $(ARGS)

## Operators' command, e.g. `make admin ARGS="--local tenants list"`.
admin: install
	$(BIN)/python -m infra.admin $(ARGS)

clean:
	rm -rf $(VENV) cdk.out .build .local infra/node_modules .pytest_cache .mypy_cache .ruff_cache
