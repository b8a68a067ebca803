"""The student: MiniLM bi-encoder (mean pooling, L2-normalised), trained multi-task.

``build_tasks`` turns examples into the tasks of ``StudentConfig.tasks``:
- ``clicks``: in-batch contrastive on clicked pairs (``MultipleNegativesRankingLoss``);
- ``distill``: the cross-encoder's pool scores (Pearson, margin-MSE or listwise KL);
- ``sr``: Search relevance, BCE on the Search filter's decisions (shown 1, filtered 0);
- ``judge``: BCE on the judge's P(relevant), or (``judge_loss: pearson``) Pearson on lists of
  one keyphrase's judged items;
- ``judge_query``: Pearson on lists of one buyer query's judged products (the click log's
  queries; ``examples.query_lists``);
- ``dimensions``: the judge's per-dimension answers as margins within a keyphrase's list
  (multi-dimensional distillation; ``examples.dimension_lists``).
Every loss is wrapped in ``MatryoshkaLoss`` over ``StudentConfig.matryoshka_dims``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from components.device import autocast, pick_device, seed_everything
from components.losses import (
    DimensionMarginLoss,
    JudgeBCELoss,
    ListwiseKLLoss,
    MarginMSELoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    PearsonDistillationLoss,
)
from components.training.config import StudentConfig, base_model_path
from components.training.examples import ListExample, PairExample
from components.training.multitask import MultiTaskStats, Task, train_multitask


def build_student(config: StudentConfig, device: torch.device | None = None,
                  base: Path | str | None = None):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base or base_model_path(config.base_model)),
                                device=str(device or pick_device()))
    model.float()  # train in fp32 (+ bf16 autocast) even from fp16 weights
    model.max_seq_length = config.max_seq_length
    return model


def distill_loss(config: StudentConfig):
    if config.distill_loss == "pearson":
        return PearsonDistillationLoss()
    if config.distill_loss == "margin_mse":
        return MarginMSELoss(student_scale=1.0)
    return ListwiseKLLoss(scale=config.contrastive_scale)


def build_tasks(config: StudentConfig, clicks: Sequence[PairExample] = (),
                distill: Sequence[ListExample] = (),
                judge: Sequence[PairExample] | Sequence[ListExample] = (),
                sr: Sequence[PairExample] = (),
                judge_query: Sequence[ListExample] = (),
                dimensions: Sequence[ListExample] = ()) -> list[Task]:
    """The tasks named in ``config.tasks``; a named task without examples is an error."""
    dims = [d for d in config.matryoshka_dims]

    def wrap(loss):
        return MatryoshkaLoss(loss, dims=dims)

    available = {
        "clicks": lambda: Task("clicks", clicks, wrap(MultipleNegativesRankingLoss(
            scale=config.contrastive_scale)), config.click_batch_size,
            config.task_weights.get("clicks", 1.0), unique_keyphrases=True),
        "distill": lambda: Task("distill", distill, wrap(distill_loss(config)),
                                config.distill_batch_size, config.task_weights.get("distill", 1.0)),
        "sr": lambda: Task("sr", sr, wrap(JudgeBCELoss(config.bce_scale, config.bce_threshold)),
                           config.sr_batch_size, config.task_weights.get("sr", 1.0)),
        "judge": lambda: Task("judge", judge, wrap(
            PearsonDistillationLoss() if config.judge_loss == "pearson"
            else JudgeBCELoss(config.bce_scale, config.bce_threshold)),
            config.judge_batch_size, config.task_weights.get("judge", 1.0)),
        "judge_query": lambda: Task("judge_query", judge_query, wrap(PearsonDistillationLoss()),
                                    config.judge_query_batch_size,
                                    config.task_weights.get("judge_query", 1.0)),
        "dimensions": lambda: Task("dimensions", dimensions, wrap(DimensionMarginLoss(
            config.dimension_margin)), config.dimension_batch_size,
            config.task_weights.get("dimensions", 1.0)),
    }
    return [available[name]() for name in config.tasks]


class InMemoryEncoder:
    """``encode``/``score_pairs`` over a live SentenceTransformer (validation during training).

    Each distinct text is tokenized once for the encoder's life (a ``TokenCache``: the
    validation texts are the same at every validation of a training run) and batches are
    formed of texts of similar token length, so a batch pads little: in the demo's validation
    (1,356 texts of up to 64 tokens) batches of 256 in the given order padded 65,563 tokens
    to 86,784, length-sorted ones to 71,936. Embeddings come back in the given order."""

    def __init__(self, model, truncate_dim: int | None = None, batch_size: int = 256):
        self.model, self.truncate_dim, self.batch_size = model, truncate_dim, batch_size
        self.name = "student"
        self._tokens = None

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from components.training.multitask import TokenCache, embed

        texts = list(texts)
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        if self._tokens is None:
            self._tokens = TokenCache(self.model, [])
        self._tokens.add(texts)
        lengths = [len(self._tokens.rows[t]["input_ids"]) for t in texts]
        order = np.argsort(np.asarray(lengths), kind="stable")
        device = next(self.model.parameters()).device
        out = None
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            with autocast(device):
                vecs = embed(self.model, [texts[i] for i in idx], device, self._tokens)
            vecs = vecs.float()
            if self.truncate_dim:
                vecs = vecs[:, : self.truncate_dim]
            vecs = torch.nn.functional.normalize(vecs, dim=-1).cpu().numpy()
            if out is None:
                out = np.empty((len(texts), vecs.shape[1]), dtype=vecs.dtype)
            out[idx] = vecs
        return out

    def score_pairs(self, keyphrases: Sequence[str], item_texts: Sequence[str]) -> np.ndarray:
        unique = list(dict.fromkeys(list(keyphrases) + list(item_texts)))
        vecs = dict(zip(unique, self.encode(unique), strict=True))
        return np.array([float(vecs[k] @ vecs[t])
                         for k, t in zip(keyphrases, item_texts, strict=True)])


def train_student(config: StudentConfig, tasks: Sequence[Task], out_dir: Path | str | None,
                  validate: Callable[[object], float] | None = None,
                  device: torch.device | None = None) -> tuple[object, MultiTaskStats]:
    """Build a fresh MiniLM student, train it on ``tasks``, save it at ``out_dir`` (if given)."""
    device = device or pick_device()
    seed_everything(config.seed)
    model = build_student(config, device)

    encoder = InMemoryEncoder(model)  # one token cache for every validation of this run

    def validate_model(m):
        return validate(encoder if m is model else InMemoryEncoder(m))

    stats = train_multitask(model, tasks, config.max_steps, config.sampler,
                            config.learning_rate, config.warmup_fraction, device,
                            seed=config.seed, validate=validate_model if validate else None,
                            eval_every=config.eval_every)
    if out_dir is not None:
        model.save(str(out_dir))
    return model, stats
