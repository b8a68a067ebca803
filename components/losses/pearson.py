"""Pearson-correlation distillation from the cross-encoder's scores.

Paper: Dey et al., "LLMDistill4Ads" (arXiv 2508.03628, 2025): the student's similarities are
trained to correlate with the assistant's (cross-encoder's) scores, keeping their ranking and
shape rather than their absolute values (scale- and shift-invariant).

Inputs: each keyphrase with ``list_size`` pool items, ``labels`` = teacher scores
``[batch, list_size]``. The loss is ``1 - corr(student_row, teacher_row)`` averaged over rows;
rows whose teacher scores are all equal carry no ranking signal and are skipped.

Example::

    >>> s = torch.tensor([[0.1, 0.2, 0.3]]); t = torch.tensor([[0.5, 0.6, 0.7]])
    >>> round(float(pearson_distillation_loss(s, t)), 6)
    0.0
"""

from __future__ import annotations

import torch
from torch import nn

from components.losses.batch import TextBatch, cosine_scores
from components.losses.shapes import require_2d, require_min_list, require_same_shape

FIX = ("Build distillation examples as one keyphrase with a list of >= 2 pool items and "
       "their cross-encoder scores (components.training.examples.distillation_lists).")


def pearson_distillation_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor,
                              eps: float = 1e-8) -> torch.Tensor:
    """Mean over rows of ``1 - Pearson(student, teacher)``; both ``[batch, list_size]``."""
    require_2d("student_scores", student_scores, FIX)
    require_same_shape("student_scores", student_scores, "teacher_scores", teacher_scores, FIX)
    require_min_list("teacher_scores", teacher_scores, 2, FIX)
    s = student_scores.float() - student_scores.float().mean(dim=1, keepdim=True)
    t = teacher_scores.float() - teacher_scores.float().mean(dim=1, keepdim=True)
    t_norm = t.norm(dim=1)
    informative = t_norm > eps
    if not informative.any():
        return student_scores.sum() * 0.0
    corr = (s * t).sum(dim=1) / (s.norm(dim=1) * t_norm + eps)
    return (1.0 - corr[informative]).mean()


class PearsonDistillationLoss(nn.Module):
    """Task loss for cross-encoder distillation; see the module docstring."""

    def forward(self, keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                batch: TextBatch) -> torch.Tensor:
        scores = cosine_scores(keyphrase_emb, item_emb, batch.list_size)
        return pearson_distillation_loss(scores, batch.labels.to(scores.device))
