"""Binary cross-entropy on the judge's soft labels (P(relevant) of the LLM teacher).

Paper: Zhao et al., "Explainable LLM-driven Multi-dimensional Distillation for E-Commerce
Relevance Learning" (arXiv 2411.13045, WWW 2025): soft labels of the LLM's score distribution.

Inputs: ``labels`` = the judge's P(relevant) in [0, 1], same shape as the scores (``[batch]``
for pairs). For the bi-encoder the logit is ``scale * (cosine - threshold)``, so a cosine above
``threshold`` means "relevant"; for the cross-encoder the scores are its logits (scale 1,
threshold 0).

Example::

    >>> import math
    >>> v = judge_bce_loss(torch.tensor([0.0]), torch.tensor([0.5]))
    >>> abs(float(v) - math.log(2)) < 1e-6
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from components.losses.batch import TextBatch, cosine_scores
from components.losses.shapes import require_probabilities, require_same_shape

FIX = ("Give one judge P(relevant) per (keyphrase, item) pair, from the teacher labels' "
       "'p_relevant' field (components.judge.labels.load_teacher_labels).")


def judge_bce_loss(scores: torch.Tensor, p_relevant: torch.Tensor, scale: float = 1.0,
                   threshold: float = 0.0) -> torch.Tensor:
    """``BCE(sigmoid(scale * (scores - threshold)), p_relevant)``, mean over pairs."""
    require_same_shape("scores", scores, "p_relevant", p_relevant, FIX)
    require_probabilities("p_relevant", p_relevant, FIX)
    logits = scale * (scores.float() - threshold)
    return F.binary_cross_entropy_with_logits(logits, p_relevant.float())


class JudgeBCELoss(nn.Module):
    """Task loss for judge labels on (keyphrase, item) pairs; see the module docstring."""

    def __init__(self, scale: float = 20.0, threshold: float = 0.5):
        super().__init__()
        self.scale = scale
        self.threshold = threshold

    def forward(self, keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                batch: TextBatch) -> torch.Tensor:
        scores = cosine_scores(keyphrase_emb, item_emb, batch.list_size)
        labels = batch.labels.to(scores.device)
        if labels.dim() == 1:
            labels = labels[:, None]
        return judge_bce_loss(scores, labels, self.scale, self.threshold)
