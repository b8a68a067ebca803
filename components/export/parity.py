"""Parity of the exported ONNX models against the torch models, on real ESCI text.

The ONNX side runs the served path: the repository's tokenizer (``tokenization.py``) and ONNX
Runtime. The torch side is the reference path: sentence-transformers with its own Hugging Face
tokenizer. A model fails the check when any student embedding's cosine to torch is below
``min_cosine`` (default 0.9999: fp32 export of the same weights differs by kernel rounding only,
~1e-7 in cosine; a wrong pooling, mask or tokenizer drops it far below) or any cross-encoder
score, or any probability of its dimension heads where it has them, differs by more than
``max_score_diff``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from components.export.config import ExportConfig
from components.export.templates import encoding_module, tokenization_module

log = logging.getLogger(__name__)


class ParityError(RuntimeError):
    """The exported model does not reproduce the torch model."""


@dataclass(frozen=True)
class ParityReport:
    model: str
    samples: int
    min_cosine: float | None = None
    max_score_diff: float | None = None
    embedding_dim: int | None = None
    max_dimension_diff: float | None = None  # cross-encoder with dimension heads
    dimensions: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def parity_texts(n: int, data_root: Path | None = None) -> tuple[list[str], list[str]]:
    """``n`` real (item text, keyphrase) pairs from the ESCI judgments, deterministic order.

    Every grade is represented, and item texts of all lengths (long ones get truncated).
    """
    from components.data import load_items, load_judgments
    items = load_items(data_root)
    judgments = sorted(load_judgments(data_root), key=lambda j: (j.query_id, j.item_id))
    step = max(1, len(judgments) // n)
    picked = judgments[::step][:n]
    return [items[j.item_id].text() for j in picked], [j.query for j in picked]


def _tokenizer(model_dir: Path, config: ExportConfig):
    return tokenization_module().BatchTokenizer(model_dir, config.max_seq_length,
                                                pair_order=config.pair_order)


def check_student(onnx_path: Path, student_dir: Path, config: ExportConfig,
                  texts: list[str]) -> ParityReport:
    from sentence_transformers import SentenceTransformer

    from components.export.graphs import backbone_dir
    tokens = _tokenizer(backbone_dir(student_dir), config).encode(texts)
    onnx_emb = encoding_module().OnnxRunner(onnx_path)(tokens)
    model = SentenceTransformer(str(student_dir), device="cpu")
    model.max_seq_length = config.max_seq_length
    ref = model.encode(texts, convert_to_numpy=True, batch_size=32)
    if config.matryoshka_dim is not None:
        ref = ref[:, :config.matryoshka_dim]
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    if onnx_emb.shape != ref.shape:
        raise ParityError(f"student ONNX gives shape {onnx_emb.shape}, torch {ref.shape}")
    cosine = np.sum(onnx_emb * ref, axis=1) / np.linalg.norm(onnx_emb, axis=1)
    report = ParityReport("student", len(texts), min_cosine=float(cosine.min()),
                          embedding_dim=int(ref.shape[1]))
    if report.min_cosine < config.min_cosine:
        worst = int(cosine.argmin())
        raise ParityError(f"student ONNX parity failed: min cosine {report.min_cosine:.6f} < "
                          f"{config.min_cosine} (text {texts[worst]!r})")
    log.info("student parity: min cosine %.7f over %d texts", report.min_cosine, len(texts))
    return report


def check_cross_encoder(onnx_path: Path, cross_encoder_dir: Path, config: ExportConfig,
                        item_texts: list[str], keyphrases: list[str]) -> ParityReport:
    from sentence_transformers import CrossEncoder

    from components.export.graphs import (
        DIMENSIONS_OUTPUT,
        SCORE_OUTPUT,
        backbone_dir,
        cross_encoder_dimensions,
    )
    tokens = _tokenizer(backbone_dir(cross_encoder_dir), config).encode_pairs(item_texts,
                                                                              keyphrases)
    served = encoding_module().OnnxRunner(onnx_path).outputs(tokens)
    model = CrossEncoder(str(cross_encoder_dir), device="cpu", max_length=config.max_seq_length)
    pairs = (list(zip(keyphrases, item_texts, strict=True)) if config.pair_order == "keyphrase_first"
             else list(zip(item_texts, keyphrases, strict=True)))
    ref, ref_dimensions = reference_outputs(model, pairs)
    dimensions = cross_encoder_dimensions(cross_encoder_dir)
    if ref.min() < 0 or ref.max() > 1:
        raise ParityError("cross-encoder torch scores are not probabilities: its activation "
                          "must be Sigmoid (CrossEncoder num_labels=1)")
    diff = float(np.abs(served[SCORE_OUTPUT][:, 0] - ref).max())
    dim_diff = None
    if dimensions:
        if DIMENSIONS_OUTPUT not in served or \
                served[DIMENSIONS_OUTPUT].shape != ref_dimensions.shape:
            raise ParityError(f"cross-encoder ONNX lacks the {DIMENSIONS_OUTPUT} output "
                              f"[pairs, {len(dimensions)}, 3] of its dimension heads")
        dim_diff = float(np.abs(served[DIMENSIONS_OUTPUT] - ref_dimensions).max())
    elif DIMENSIONS_OUTPUT in served:
        raise ParityError(f"cross-encoder ONNX has a {DIMENSIONS_OUTPUT} output but the model "
                          "has no dimension heads")
    report = ParityReport("cross_encoder", len(pairs), max_score_diff=diff,
                          max_dimension_diff=dim_diff, dimensions=dimensions or None)
    if diff > config.max_score_diff:
        raise ParityError(f"cross-encoder ONNX parity failed: max |score diff| {diff:.2e} > "
                          f"{config.max_score_diff}")
    if dim_diff is not None and dim_diff > config.max_score_diff:
        raise ParityError(f"cross-encoder ONNX parity failed: max |dimension probability diff| "
                          f"{dim_diff:.2e} > {config.max_score_diff}")
    log.info("cross-encoder parity: max |score diff| %.2e, |dimension diff| %s over %d pairs",
             diff, "-" if dim_diff is None else f"{dim_diff:.2e}", len(pairs))
    return report


def reference_outputs(model, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """The torch cross-encoder's P(relevant) ``[pairs]`` and, where it has dimension heads, their
    softmax ``[pairs, dims, 3]`` (else ``[pairs, 0, 3]``), from its raw logits (relevance first,
    then 3 per head: ``components.training.cross_encoder``)."""
    import torch
    logits = np.asarray(model.predict(pairs, batch_size=32, activation_fn=torch.nn.Identity(),
                                      convert_to_numpy=True), dtype=np.float32)
    logits = logits.reshape(len(pairs), -1)
    score = 1.0 / (1.0 + np.exp(-logits[:, 0]))
    heads = logits[:, 1:].reshape(len(pairs), -1, 3)
    heads = np.exp(heads - heads.max(axis=-1, keepdims=True))
    return score.astype(np.float32), (heads / heads.sum(axis=-1, keepdims=True)).astype(np.float32)
