"""Typed configs of the training steps, loadable from one YAML file (``demo.yaml``/``full.yaml``).

The YAML holds one mapping per step: ``pool``, ``cross_encoder``, ``student`` and
``experiment``; missing keys keep the defaults below.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path

from pydantic.dataclasses import dataclass

from components.config import STEP_CONFIG, load_yaml
from components.contracts import JUDGE_DIMENSIONS

CONFIG_DIR = Path(__file__).resolve().parent
DEMO_CONFIG = CONFIG_DIR / "demo.yaml"
FULL_CONFIG = CONFIG_DIR / "full.yaml"

STUDENT_TASKS = ("clicks", "sr", "distill", "judge", "judge_query", "dimensions")
CROSS_ENCODER_OBJECTIVES = ("bce", "kl", "listwise")


@dataclass(frozen=True, config=STEP_CONFIG)
class PoolConfig:
    """Which (keyphrase, item) pairs the cross-encoder scores for distillation."""

    retrieved_per_keyphrase: int = 100   # nearest items by the zero-shot student
    random_per_keyphrase: int = 20       # uniformly drawn items
    use_wands: bool = True               # add WANDS queries as extra keyphrases
    max_keyphrases: int | None = None    # cap (demo)
    retrieval_max_items: int | None = None  # items the zero-shot encoder embeds (sampled; demo)
    seed: int = 11
    batch_size: int = 512


@dataclass(frozen=True, config=STEP_CONFIG)
class CrossEncoderConfig:
    base_model: str = "minilm"           # pretrained name or a sentence-transformers directory
    # "bce" on P(relevant), "kl" on the grade distribution, or "listwise": KL between the
    # softmax of its logits and of the judge's logit(P(relevant)) / temperature over lists of
    # one keyphrase's judged items (the judge's order within a keyphrase)
    objective: str = "bce"
    list_size: int = 8                   # listwise: items per keyphrase list
    teacher_temperature: float = 1.0     # listwise: temperature of the judge's logits
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_fraction: float = 0.1
    max_length: int = 96
    eval_every: int = 0                  # 0: evaluate on validation only at the end
    seed: int = 0
    # MKD: > 0 adds one 3-way head (yes / no / not mentioned) per judge dimension beside the
    # relevance logit, trained on the labels' dimension answers with this weight
    dimension_weight: float = 0.0
    dimension_names: tuple[str, ...] = JUDGE_DIMENSIONS

    def __post_init__(self):
        if self.dimension_weight < 0:
            raise ValueError(f"dimension_weight must be >= 0, got {self.dimension_weight}")
        if self.dimension_weight > 0 and self.objective == "kl":
            raise ValueError("dimension heads go beside the one-logit objectives (bce, "
                             "listwise), not kl")
        if self.objective not in CROSS_ENCODER_OBJECTIVES:
            raise ValueError(f"objective must be one of {CROSS_ENCODER_OBJECTIVES}, "
                             f"got {self.objective!r}")
        if self.list_size < 2 or self.teacher_temperature <= 0:
            raise ValueError("list_size must be >= 2 and teacher_temperature > 0")


@dataclass(frozen=True, config=STEP_CONFIG)
class StudentConfig:
    """Multi-task student: which tasks, their losses, the sampler and the schedule."""

    base_model: str = "minilm"           # pretrained name or a sentence-transformers directory
    tasks: tuple[str, ...] = ("clicks", "distill", "judge")  # any of STUDENT_TASKS
    distill_loss: str = "pearson"        # pearson | margin_mse | listwise_kl
    # judge task: "bce" on each pair's P(relevant), or "pearson" on lists of one keyphrase's
    # judged items (the judge's order within a keyphrase, not its compressed absolute values)
    judge_loss: str = "bce"
    sampler: str = "round_robin"         # round_robin | proportional | weighted
    task_weights: dict = field(default_factory=lambda: {"clicks": 1.0, "distill": 1.0,
                                                        "judge": 1.0})
    matryoshka_dims: tuple[int, ...] = (384, 256, 128, 64)
    max_steps: int = 600
    click_batch_size: int = 64
    distill_batch_size: int = 16
    distill_list_size: int = 16
    judge_batch_size: int = 64           # pairs (bce) or lists (pearson)
    judge_list_size: int = 8
    # judge_query task: the judge's labels of the click-log (buyer) queries' own products, as
    # lists of one query's items (Pearson): the within-query order nDCG@10 measures. With it,
    # the judge task keeps the other keyphrases' labels only.
    judge_query_batch_size: int = 8      # lists
    judge_query_list_size: int = 16
    judge_query_lists_per_query: int = 8  # random lists drawn from each query's labels
    # dimensions task (MKD): per-dimension margins within lists of one keyphrase's items that
    # carry the judge's dimension answers (components.losses.dimension_margin)
    dimension_names: tuple[str, ...] = JUDGE_DIMENSIONS
    dimension_batch_size: int = 16       # lists
    dimension_list_size: int = 8
    dimension_margin: float = 0.1
    sr_batch_size: int = 64              # Search-relevance task: shown (1) vs filtered (0) pairs
    learning_rate: float = 2e-5
    warmup_fraction: float = 0.1
    max_seq_length: int = 64
    contrastive_scale: float = 20.0
    bce_scale: float = 20.0
    bce_threshold: float = 0.5
    eval_every: int = 100                # validation nDCG@10 for best-checkpoint selection
    seed: int = 0

    def __post_init__(self):
        unknown = set(self.tasks) - set(STUDENT_TASKS)
        if unknown or not self.tasks:
            raise ValueError(f"tasks must be a non-empty subset of {'/'.join(STUDENT_TASKS)}, "
                             f"got {self.tasks}")
        if self.judge_loss not in ("bce", "pearson"):
            raise ValueError(f"judge_loss must be bce or pearson, got {self.judge_loss!r}")
        if self.sampler not in ("round_robin", "proportional", "weighted"):
            raise ValueError("sampler must be round_robin, proportional or weighted, got "
                             f"{self.sampler!r}")
        if self.distill_loss not in ("pearson", "margin_mse", "listwise_kl"):
            raise ValueError(f"unknown distill_loss {self.distill_loss!r}")


@dataclass(frozen=True, config=STEP_CONFIG)
class ExperimentConfig:
    seeds: tuple[int, ...] = (0, 1, 2)
    judge_budget: int | None = None      # cap on teacher labels used (None: all)
    compare_kl: bool = True              # also train the KL cross-encoder for comparison
    anchor: bool = True                  # time sentence-transformers' own trainer
    eval_batch_size: int = 256
    cross_encoder_item_side: bool = True  # CE × whole keyphrase universe (slow on CPU)
    max_queries_per_split: int | None = None  # demo/tests: keep only N queries of each split
    max_extra_keyphrases: int | None = None   # demo/tests: keep only N WANDS keyphrases
    # Cross-encoder settings to try (overrides of ``cross_encoder``, e.g. {learning_rate: 1e-4});
    # the one with the best validation nDCG@10 is shipped and scores the pool. Empty: none.
    cross_encoder_sweep: tuple[dict, ...] = ()
    # Distillation task weights to try on the first seed (validation nDCG@10 picks one, which
    # every seed then uses). Empty: ``student.task_weights`` as given.
    distill_weights: tuple[float, ...] = ()

    def __post_init__(self):
        if any(w <= 0 for w in self.distill_weights):
            raise ValueError(f"distill_weights must be > 0, got {self.distill_weights}")
        for override in self.cross_encoder_sweep:
            CrossEncoderConfig(**override)  # unknown keys / bad values fail here


@dataclass(frozen=True, config=STEP_CONFIG)
class TrainingConfig:
    pool: PoolConfig = field(default_factory=PoolConfig)
    cross_encoder: CrossEncoderConfig = field(default_factory=CrossEncoderConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)


def base_model_path(name: str) -> Path:
    """A pretrained model by name (``components.models.pretrained``) or a directory path."""
    from components.models.pretrained import pretrained_path

    path = Path(name)
    return path if path.is_dir() else pretrained_path(name)


def load_config(path: Path | str = DEMO_CONFIG) -> TrainingConfig:
    """The sections ``pool``, ``cross_encoder``, ``student`` and ``experiment`` of a YAML file."""
    return load_yaml(TrainingConfig, path)
