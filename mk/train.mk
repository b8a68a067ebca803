# Training: cross-encoder (assistant), pool scoring, multi-task students, evaluation.
TRAIN_CONFIG ?= components/training/full.yaml
TEACHER_LABELS ?= $(ARTIFACTS)/judge/teacher_labels.jsonl

.PHONY: bench-train
bench-train: venv ## Cross-encoder + click-only/distilled/one-step students over seeds -> docs/results/{quality,training}.* (TEACHER_LABELS=, TRAIN_CONFIG=)
	$(PY) -m components.training.experiment --config $(TRAIN_CONFIG) \
	  --teacher-labels $(TEACHER_LABELS) --out docs/results --models-dir $(ARTIFACTS)/training

.PHONY: train-demo
train-demo: venv ## The training experiment at demo size (CPU, small budgets) -> artifacts/training-demo
	$(PY) -m components.training.experiment --config components/training/demo.yaml \
	  --teacher-labels $(TEACHER_LABELS) --out $(ARTIFACTS)/training-demo \
	  --models-dir $(ARTIFACTS)/training-demo/models

.PHONY: simulated-teacher
simulated-teacher: venv ## Stand-in teacher labels from noisy train-split human grades (until the judge's exist)
	$(PY) -m components.training.simulated_teacher --out $(ARTIFACTS)/judge/simulated_teacher_labels.jsonl \
	  --budget 2000 --flip 0.4

.PHONY: test-train
test-train: venv ## Tests of the losses, training and evaluation
	$(PY) -m pytest -q tests/losses tests/training tests/evaluation

# The cross-validated distillation benchmark (bench/cv): GPU-sized, resumable.
CV_CONFIG ?= bench/cv/h200.yaml
CV_WORK ?= $(ARTIFACTS)/cv
CV_HARDWARE ?=

.PHONY: bench-cv
bench-cv: venv ## Judge -> assistant -> students over 5 query folds (CV_CONFIG=, GPU: ~20 min on an H200) -> docs/results
	$(PY) -m bench.cv --config $(CV_CONFIG) --work $(CV_WORK) --stages generate prepare judge assistant pool students lora
	$(PY) -m bench.cv --config $(CV_CONFIG) --work $(CV_WORK) --stages report --out docs/results --hardware "$(CV_HARDWARE)"

.PHONY: bench-cv-smoke
bench-cv-smoke: venv ## Every stage of bench-cv on a CPU in minutes (15 queries, tiny random judge) -> artifacts/cv-smoke
	$(PY) -m bench.cv.smoke --work $(ARTIFACTS)/cv-smoke
