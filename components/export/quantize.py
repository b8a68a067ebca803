"""int8 dynamic quantization of the exported student, and its parity gate against fp32.

``onnxruntime.quantization.quantize_dynamic`` stores the weights of every MatMul as int8 and
quantizes the activations to uint8 at run time (per tensor, from each batch's range): no
calibration data, the graph's inputs and outputs unchanged (token ids in, an fp32 unit-length
``embedding`` out). Weights are quantized per output channel: one scale per MatMul (per
tensor) let MiniLM's outlier columns crush the rest (min cosine to fp32 0.75 on the parity
texts, against 0.98 per channel). On CPUs without VNNI (AVX2 only) ONNX Runtime's u8s8 kernels
can saturate their 16-bit intermediate sums; ``reduce_range`` keeps weights in 7 bits to avoid
that.

The gate compares the int8 model with the fp32 ONNX model it came from, on the served path
(the repository's tokenizer, ONNX Runtime), over real ESCI texts: every embedding's cosine to
fp32 must reach ``min_cosine_int8``, and the int8 embeddings must rank the parity keyphrases for
each parity item like fp32 does (mean top-10 overlap at least ``min_rank_overlap``). A wrong
quantization (a broken graph, saturated sums) fails both; quantization noise passes them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantizationReport:
    precision: str
    samples: int
    min_cosine: float
    mean_cosine: float
    top10_overlap: float
    size_mb: float

    def to_dict(self) -> dict:
        return asdict(self)


class QuantizationError(RuntimeError):
    """The int8 model does not reproduce the fp32 model closely enough."""


def quantize_int8(fp32_path: Path, out_path: Path, reduce_range: bool = True,
                  per_channel: bool = True) -> Path:
    """``fp32_path`` (an exported student) with int8 MatMul weights, written to ``out_path``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if not fp32_path.is_file():
        raise FileNotFoundError(f"no ONNX model at {fp32_path}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")
    # Only the MatMuls: quantizing the embedding Gather as well costs quality for no speed.
    quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"], per_channel=per_channel,
                     reduce_range=reduce_range)
    tmp.replace(out_path)
    log.info("int8 student %s (%.1f MB, fp32 %.1f MB)", out_path, out_path.stat().st_size / 1e6,
             fp32_path.stat().st_size / 1e6)
    return out_path


def top_k_overlap(reference: np.ndarray, candidate: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's top-``k`` columns of ``reference`` that ``candidate`` also
    puts in its top ``k`` (score matrices of the same shape)."""
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    k = min(k, reference.shape[1])
    ref = np.argsort(-reference, axis=1, kind="stable")[:, :k]
    cand = np.argsort(-candidate, axis=1, kind="stable")[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ref, cand, strict=True)]))


def compare_embeddings(fp32_items: np.ndarray, int8_items: np.ndarray, fp32_keys: np.ndarray,
                       int8_keys: np.ndarray) -> tuple[float, float, float]:
    """(min cosine, mean cosine, top-10 overlap) of int8 against fp32 embeddings: cosines over
    every row, overlap of each item's ranking of the keyphrases (both sides int8 vs fp32)."""
    fp32 = np.concatenate([fp32_items, fp32_keys])
    int8 = np.concatenate([int8_items, int8_keys])
    cosine = np.sum(fp32 * int8, axis=1) / (np.linalg.norm(fp32, axis=1)
                                             * np.linalg.norm(int8, axis=1)).clip(min=1e-12)
    overlap = top_k_overlap(fp32_items @ fp32_keys.T, int8_items @ int8_keys.T)
    return float(cosine.min()), float(cosine.mean()), overlap


def check_int8_student(fp32_path: Path, int8_path: Path, tokenizer, item_texts: list[str],
                       keyphrases: list[str], min_cosine: float,
                       min_rank_overlap: float) -> QuantizationReport:
    """Gate the int8 student against its fp32 export (``tokenizer``: a ``BatchTokenizer``)."""
    from components.export.templates import encoding_module

    runner = encoding_module().OnnxRunner
    fp32, int8 = runner(fp32_path), runner(int8_path)
    items, keys = tokenizer.encode(item_texts), tokenizer.encode(keyphrases)
    min_cos, mean_cos, overlap = compare_embeddings(fp32(items), int8(items), fp32(keys),
                                                    int8(keys))
    report = QuantizationReport("int8", len(item_texts) + len(keyphrases), min_cos, mean_cos,
                                overlap, round(Path(int8_path).stat().st_size / 1e6, 1))
    if min_cos < min_cosine:
        raise QuantizationError(f"int8 student: min cosine to fp32 {min_cos:.4f} < {min_cosine}")
    if overlap < min_rank_overlap:
        raise QuantizationError(f"int8 student: top-10 overlap with fp32 {overlap:.3f} < "
                                f"{min_rank_overlap}")
    log.info("int8 student parity: min cosine %.4f (mean %.5f), top-10 overlap %.3f",
             min_cos, mean_cos, overlap)
    return report
