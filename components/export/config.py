"""Typed settings of the export step, loadable from ``config.yaml`` beside this module."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path

from pydantic.dataclasses import dataclass

from components.config import STEP_CONFIG, load_yaml

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")

TARGETS = ("auto", "tensorrt", "onnxruntime", "python-onnx", "python-torch")
"""Where the encoders run: a TensorRT plan, Triton's ONNX Runtime backend, or a Python-backend
model running ONNX Runtime (CPU) or torch fp16 (CUDA). ``auto`` takes TensorRT when it can be
imported, else ``python-onnx``, the one target the PyPI Triton server can serve."""

PRECISIONS = ("fp32", "int8")
"""Weights of the served student: the fp32 export, or its int8 dynamic quantization (ONNX
targets, CPU: ``components/export/quantize.py``)."""
INT8_TARGETS = ("python-onnx", "onnxruntime")


@dataclass(frozen=True, config=STEP_CONFIG)
class ExportConfig:
    max_seq_length: int = 128
    opset: int = 17
    matryoshka_dim: int | None = None
    parity_samples: int = 64
    min_cosine: float = 0.9999
    max_score_diff: float = 1e-4
    target: str = "auto"
    max_batch_size: int = 256
    preferred_batch_sizes: tuple[int, ...] = field(default=(16, 64, 256))
    max_queue_delay_us: int = 2000
    max_queue_size: int = 256
    queue_timeout_us: int = 5_000_000
    tokenizer_instances: int = 2
    encoder_instances: int = 2
    encoder_kind: str = "KIND_CPU"
    warmup: bool = True
    trt_opt_batch: int = 64
    trt_max_batch: int = 256
    trt_workspace_gb: int = 4
    version: int = 1
    pair_order: str = "keyphrase_first"
    ort_threads: int = 1
    max_padding_share: float | None = 0.1
    cross_encoder_instances: int | None = 1
    cross_encoder_ort_threads: int | None = 0
    torch_device: str = "cuda"
    cuda_graphs: bool = True
    student_precision: str = "int8"
    int8_reduce_range: bool = True
    int8_per_channel: bool = True
    min_cosine_int8: float = 0.98
    min_rank_overlap_int8: float = 0.8

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.max_seq_length < 8 or self.max_batch_size < 1 or self.version < 1:
            raise ValueError("max_seq_length >= 8, max_batch_size >= 1 and version >= 1 required")
        if self.matryoshka_dim is not None and self.matryoshka_dim < 1:
            raise ValueError(f"matryoshka_dim must be positive or null, got {self.matryoshka_dim}")
        if any(b > self.max_batch_size or b < 1 for b in self.preferred_batch_sizes):
            raise ValueError("preferred_batch_sizes must lie in [1, max_batch_size]")
        if self.encoder_instances < 1 or (self.cross_encoder_instances or 1) < 1 or \
                self.ort_threads < 0 or (self.cross_encoder_ort_threads or 0) < 0:
            raise ValueError("encoder instances must be >= 1 and ort threads >= 0")
        if self.max_queue_size < 1 or self.queue_timeout_us < 1:
            raise ValueError("max_queue_size and queue_timeout_us must be >= 1")
        if self.encoder_kind not in ("KIND_CPU", "KIND_GPU"):
            raise ValueError(f"encoder_kind must be KIND_CPU or KIND_GPU, got {self.encoder_kind}")
        if self.pair_order not in ("keyphrase_first", "item_first"):
            raise ValueError(f"pair_order must be keyphrase_first or item_first, got {self.pair_order!r}")
        if self.student_precision not in PRECISIONS:
            raise ValueError(f"student_precision must be one of {PRECISIONS}, "
                             f"got {self.student_precision!r}")
        if not 0 < self.min_cosine_int8 <= 1 or not 0 <= self.min_rank_overlap_int8 <= 1:
            raise ValueError("min_cosine_int8 must lie in (0, 1] and min_rank_overlap_int8 "
                             "in [0, 1]")
        if not 0 < self.min_cosine <= 1 or self.max_score_diff <= 0:
            raise ValueError("min_cosine must lie in (0, 1] and max_score_diff be positive")

    @classmethod
    def from_yaml(cls, path: Path | str = DEFAULT_CONFIG, **overrides) -> ExportConfig:
        return load_yaml(cls, path, **overrides)
