# PrepKit Interviews. Every target installs what it needs first (uv, then the locked dependencies).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

# the deps layer's requirements: the locked runtime dependencies, boto3 left to the Lambda runtime
DEPS_EXPORT := $(UV) export --frozen --no-default-groups --no-emit-project --no-header --quiet \
	--no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer --no-emit-package jmespath

CDK := infra_cdk/cli/node_modules/.bin/cdk
STAGE ?= dev
CDK_CONTEXT ?= -c stage=$(STAGE)
# the CDK CLI never phones home: no notices (cdk.json), no telemetry (cdk.json), no version check
CDK_ENV := CDK_DISABLE_VERSION_CHECK=1 AWS_EC2_METADATA_DISABLED=true JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=1

.PHONY: help install demo dev test layers synth deploy lint typecheck unit bench chaos deps-requirements clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@echo "==> installing uv $(UV_VERSION) (the installer for the locked dependencies) into $(TOOLS)/"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --progress-bar on "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	@echo "==> installing the locked dependencies into $(VENV)/ (uv sync --frozen; first time ~1 min)"
	$(UV) sync --frozen --python "$$(command -v $(PYTHON))"
	@touch $@

install: $(VENV)/.synced ## install the pinned dependencies (uv.lock) into .venv

demo: install ## one complete paid interview over HTTP on the local stack, then its report
	$(BIN)/python -m prepkit.local.demo

dev: install ## run the local stack and the API on http://127.0.0.1:$${PORT:-8000}
	$(BIN)/python -m prepkit.local.dev

lint: install ## ruff format check + ruff lint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install ## mypy (strict on the core package)
	$(BIN)/mypy

unit: install ## unit tests only (no sockets)
	$(BIN)/pytest tests/unit -q

deps-requirements: $(UV) ## regenerate layers/deps/requirements.txt from uv.lock
	$(DEPS_EXPORT) -o layers/deps/requirements.txt

test: install ## every check and test suite: lint, types, unit, integration, e2e
	@$(DEPS_EXPORT) | diff -q - layers/deps/requirements.txt >/dev/null \
	  || { echo "layers/deps/requirements.txt is stale: run make deps-requirements"; exit 1; }
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --dist loadfile

bench: install ## latency and import-time figures (see README, Performance)
	$(BIN)/python -m benchmarks.run

chaos: install ## PostgreSQL killed mid-interview (outages up to 90 s, 50 interviews): none may be stuck (~6 min)
	$(BIN)/python -m benchmarks.chaos

$(CDK): infra_cdk/cli/package-lock.json
	@echo "==> installing the pinned CDK CLI (infra_cdk/cli/package-lock.json)"
	cd infra_cdk/cli && npm ci --no-audit --no-fund --loglevel=error

layers: install ## build the Lambda layers without Docker (ARCH=arm64|x86_64) and print their sizes
	$(BIN)/python -m infra_cdk.layers --architecture $${ARCH:-arm64}

synth: install layers $(CDK) ## cdk synth (+ cdk-nag) inside a network namespace: nothing can leave the machine
	$(CDK_ENV) unshare -n sh -c 'ip link set lo up && $(CDK) synth --quiet $(CDK_CONTEXT)'
	@ls cdk.out/*.template.json

deploy: install layers $(CDK) ## cdk deploy --all to the AWS account of your credentials (see README, Deploying)
	$(CDK_ENV) $(CDK) deploy --all $(CDK_CONTEXT)

clean: ## remove the environments and local data
	rm -rf $(VENV) $(TOOLS) .local .pytest_cache .mypy_cache .ruff_cache cdk.out layers/build infra_cdk/cli/node_modules
