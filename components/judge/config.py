"""Typed configuration of the judge step, loadable from YAML (default: ``judge.yaml`` beside)."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path

from pydantic.dataclasses import dataclass

from components.config import STEP_CONFIG, load_yaml
from components.judge.dimensions import DEFAULT_DIMENSION_PROMPTS, dimension_prompts_by_version
from components.judge.rubric import RenderLimits, rubric_by_version, rubric_for

DEFAULT_CONFIG = Path(__file__).with_name("judge.yaml")


@dataclass(frozen=True, config=STEP_CONFIG)
class EndpointConfig:
    """An OpenAI-compatible chat-completions endpoint (vLLM, TGI, NIM, Triton's frontend)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "judge"                        # the model name the server expects
    api_key_env: str = "KPDISTILL_JUDGE_API_KEY"  # read at run time; never in config files
    max_concurrency: int = 8
    timeout_s: float = 30.0
    max_retries: int = 4                        # on 429, 5xx, connection errors, timeouts
    backoff_s: float = 0.5                      # first wait; doubles each retry
    backoff_max_s: float = 8.0
    top_logprobs: int = 10


@dataclass(frozen=True, config=STEP_CONFIG)
class JudgeConfig:
    backend: str = "local"                      # "local" (transformers) | "openai" (HTTP)
    model: str = "qwen2.5-coder-0.5b-instruct"  # judge model name (weights.JUDGE_WEIGHTS)
    model_dir: str | None = None                # a transformers directory instead of `model`
    device: str = "auto"                        # "auto": cuda (bf16) if present, else cpu (fp32)
    batch_size: int = 16
    prefix_cache: bool = True                   # reuse the rubric prefix's KV cache
    answer_mode: str = "binary"                 # "binary" (rubric-v6) | "graded" (rubric-v4)
    layout: str | None = None                   # None: the rubric's own; or query_first /
                                                # product_first
    rubric_version: str | None = None           # a rubric by version (rubric.RUBRICS), e.g.
                                                # rubric-v7-exact; overrides answer_mode/layout
    item_prefix: bool = False                   # share each item's KV cache between its pairs
                                                # (GPU throughput; product_first rubrics)
    lora_adapter: str | None = None             # a judge LoRA (components.judge.lora) to load
    dimensions: bool = False                    # also answer the dimension questions
                                                # (components/judge/dimensions.py; local only)
    dimension_version: str = DEFAULT_DIMENSION_PROMPTS.version  # which questions (a key of
                                                # dimensions.DIMENSION_PROMPTS)
    min_grade_mass: float = 0.05                # below: the answer is unreadable
    chunk_size: int = 32                        # pairs committed to the store together
    threads: int | None = None                  # torch CPU threads (None: torch's default)
    limits: RenderLimits = field(default_factory=RenderLimits)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)

    def __post_init__(self) -> None:
        if self.backend not in ("local", "openai"):
            raise ValueError(f"backend must be 'local' or 'openai', got {self.backend!r}")
        if self.batch_size < 1 or self.chunk_size < 1:
            raise ValueError("batch_size and chunk_size must be >= 1")
        rubric = self.rubric()  # raises ValueError on an unknown one
        if self.item_prefix and rubric.layout != "product_first":
            raise ValueError(f"item_prefix needs a product_first rubric, not {rubric.version}")
        dimension_prompts_by_version(self.dimension_version)  # ValueError on an unknown one
        if self.dimensions and self.backend != "local":
            raise ValueError("dimension judging reads next-token distributions of the local "
                             f"judge; backend {self.backend!r} cannot (set dimensions: false)")
        if not 0.0 <= self.min_grade_mass < 1.0:
            raise ValueError(f"min_grade_mass must be in [0, 1), got {self.min_grade_mass}")

    def rubric(self):
        if self.rubric_version:
            return rubric_by_version(self.rubric_version)
        return rubric_for(self.answer_mode, self.layout)

    def dimension_prompts(self):
        """The dimension questions to ask, or None when dimension judging is off."""
        return dimension_prompts_by_version(self.dimension_version) if self.dimensions else None

    @property
    def prompt_version(self) -> str:
        """The version stored with every judgment (the rubric's)."""
        return self.rubric().version

    @property
    def judge_model(self) -> str:
        """The name stored with every judgment."""
        if self.backend == "openai":
            return f"openai:{self.endpoint.model}"
        if self.lora_adapter:  # another judge: its labels are stored apart from the base's
            return f"{self.model}+lora:{Path(self.lora_adapter).name}"
        return self.model


def load_config(path: Path | str | None = None, **overrides) -> JudgeConfig:
    """The YAML config (default: judge.yaml), with top-level overrides applied."""
    return load_yaml(JudgeConfig, path or DEFAULT_CONFIG, **overrides)
