"""The benchmark's settings: one typed config, loadable from YAML (``h200.yaml``, ``smoke.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from components.training.config import CrossEncoderConfig, StudentConfig

CONFIG_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class CVConfig:
    n_folds: int = 5
    fold_seed: int = 13
    seed13_split: bool = True            # also the fixed seed-13 split (continuity)
    seed13_students: bool = False        # train students / LoRA on it too (else: fold-free models)
    seeds: tuple[int, ...] = (0, 1)
    variants: tuple[str, ...] = ("click_only", "click_sr", "one_step", "distilled")
    # training keyphrases: WANDS queries + catalogue phrases (never an ESCI query text)
    mined_limit: int = 3000
    retrieved_per_keyphrase: int = 30    # judge candidates: zero-shot nearest items
    random_per_keyphrase: int = 10       # judge candidates: uniform items
    max_training_keyphrases: int | None = None
    # keyphrases the judge's LLM writes for catalogue items (bench.cv.querygen): items
    # drawn (seeded) from the catalogue, one query each; 0: none
    generated_items: int = 0
    generate_batch_size: int = 128
    generate_max_new_tokens: int = 16
    # judge
    judge_model: str = "qwen2.5-coder-1.5b-instruct"
    judge_dir: str = ""                  # a transformers directory (else converted from GGUF)
    judge_gguf: str = ""                 # an assembled GGUF file to convert (hash-checked)
    judge_batch_size: int = 256
    judge_item_prefix: bool = True
    judge_min_grade_mass: float = 0.05   # below it an answer is unreadable (0: always read)
    # also label every judged ESCI pair (source "judged", with its query id): each fold's
    # students then learn the judge's order of its train queries' products (in-domain lists);
    # the assistant never sees them (it is shared by all folds)
    judge_esci_pairs: bool = False
    # the judge's per-dimension answers (ELLM-rele + MKD) for the pairs of the ESCI queries
    # ("esci": the in-domain lists), every pair ("all"), or none
    judge_dimensions: str = "none"
    # throughput benchmark: this many stored pairs judged again (timed; labels not kept); 0: off
    throughput_pairs: int = 0
    prompts: tuple[str, ...] = ("rubric-v6", "rubric-v7-exact", "rubric-v7-exact-full")
    # measured beside ``prompts`` (as rankers, and timed) but never chosen: candidates for a
    # later round, which keeps this round's teacher comparable with the earlier rounds'
    compared_prompts: tuple[str, ...] = ()
    # LoRA judge, per split
    lora: bool = True
    lora_epochs: float = 2.0
    lora_batch_size: int = 32
    lora_learning_rate: float = 2e-4
    lora_max_length: int = 384          # whole prompt, shared prefix included
    # the LoRA judge as a teacher: after training, it labels the fold's train queries' judged
    # products and every stored pair of this many training keyphrases
    # (lora/<split>_labels.jsonl); the variants named in lora_variants train on them (the
    # others on the zero-shot labels)
    lora_teacher: bool = False
    lora_teacher_keyphrases: int = 0
    lora_variants: tuple[str, ...] = ()
    # assistant (fold-independent): objectives tried, chosen on held-out judge labels
    assistant_objectives: tuple[str, ...] = ("listwise", "bce")
    assistant_holdout_fraction: float = 0.05
    cross_encoder: CrossEncoderConfig = field(default_factory=CrossEncoderConfig)
    # pool
    pool_retrieved: int = 200
    pool_random: int = 20
    pool_batch_size: int = 2048
    predict_anchor_pairs: int = 20000    # CrossEncoder.predict on the same pairs, for comparison
    # students
    student: StudentConfig = field(default_factory=StudentConfig)
    # per variant: StudentConfig fields that differ from ``student`` (e.g. a longer schedule
    # and the task weights for the variants that learn from the teacher)
    variant_student: dict = field(default_factory=dict)
    parallel_students: int = 8           # student trainings at once (processes on one GPU)
    # variants not trained in this round: their per-query results come from an earlier
    # round's published cv.json (``baseline_results``; same folds, seeds and config), so the
    # report pairs this round's new variants with them without training them again
    baseline_variants: tuple[str, ...] = ()
    baseline_results: str = ""
    # rows that are not student variants, taken from the same earlier round when this round
    # does not produce them: ``judge_lora`` (the per-fold LoRA judges) when ``lora`` is off
    baseline_rows: tuple[str, ...] = ()
    # after the jobs: the click task timed through our trainer and SentenceTransformerTrainer
    anchor_steps: int = 0
    base_model: str = "minilm"           # name or directory, for the students and assistant
    eval_batch_size: int = 512
    bootstrap_resamples: int = 10000
    max_queries: int | None = None       # smoke runs: a few queries only

    def __post_init__(self):
        for name in ("seeds", "variants", "prompts", "assistant_objectives", "lora_variants",
                     "baseline_variants", "compared_prompts", "baseline_rows"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.judge_dimensions not in ("none", "esci", "all"):
            raise ValueError(f"judge_dimensions must be none, esci or all, got "
                             f"{self.judge_dimensions!r}")
        if self.n_folds < 2:
            raise ValueError("n_folds must be >= 2")
        if not self.prompts:
            raise ValueError("prompts must name at least one rubric version")
        from components.training.stages import VARIANT_TASKS

        untasked = [v for v in self.variants if v not in VARIANT_TASKS
                    and not (self.variant_student.get(v) or {}).get("tasks")]
        if untasked:
            raise ValueError(f"variants {untasked} are not among {sorted(VARIANT_TASKS)}: give "
                             "them their tasks in variant_student.<name>.tasks")
        if set(self.lora_variants) - set(self.variants):
            raise ValueError(f"lora_variants {sorted(set(self.lora_variants) - set(self.variants))}"
                             " are not in variants")
        if self.lora_variants and not (self.lora and self.lora_teacher):
            raise ValueError("lora_variants need lora: true and lora_teacher: true")
        if set(self.baseline_variants) - set(self.variants):
            raise ValueError(f"baseline_variants {sorted(set(self.baseline_variants) - set(self.variants))}"
                             " are not in variants")
        if self.baseline_variants and not self.baseline_results:
            raise ValueError("baseline_variants need baseline_results: an earlier round's cv.json")
        if set(self.baseline_rows) - {"judge_lora"}:
            raise ValueError(f"baseline_rows can name judge_lora only, got "
                             f"{sorted(set(self.baseline_rows) - {'judge_lora'})}")
        if self.baseline_rows and not self.baseline_results:
            raise ValueError("baseline_rows need baseline_results: an earlier round's cv.json")
        if "judge_lora" in self.baseline_rows and self.lora:
            raise ValueError("judge_lora is a baseline row only when this round has lora: false")
        if set(self.baseline_variants) & set(self.lora_variants):
            raise ValueError("a variant cannot be both a baseline and a LoRA-taught variant")
        unknown = set(self.variant_student) - set(self.variants)
        if unknown:
            raise ValueError(f"variant_student names variants not run: {sorted(unknown)}")
        for variant in self.variant_student:
            self.student_for(variant)  # StudentConfig checks the fields and their values

    def tasks_for(self, variant: str) -> tuple[str, ...]:
        """The variant's tasks: ``variant_student.<variant>.tasks``, else ``VARIANT_TASKS``."""
        from components.training.stages import VARIANT_TASKS

        own = (self.variant_student.get(variant) or {}).get("tasks")
        return tuple(own) if own else VARIANT_TASKS[variant]

    def student_for(self, variant: str) -> StudentConfig:
        """``student`` with the variant's own fields (``variant_student``) applied."""
        changes = dict(self.variant_student.get(variant) or {})
        known = {f.name for f in fields(StudentConfig)}
        if set(changes) - known:
            raise ValueError(f"variant_student.{variant}: unknown StudentConfig fields "
                             f"{sorted(set(changes) - known)}")
        return replace(self.student, **changes)


def load_cv_config(path: Path | str) -> CVConfig:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    known = {f.name for f in fields(CVConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    ce = CrossEncoderConfig(**data.pop("cross_encoder", {}) or {})
    student = StudentConfig(**data.pop("student", {}) or {})
    return replace(CVConfig(**data), cross_encoder=ce, student=student)
