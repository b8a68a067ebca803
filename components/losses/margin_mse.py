"""Margin-MSE distillation: match the teacher's score margins between items of one keyphrase.

Paper: Hofstätter et al., "Improving Efficient Neural Ranking Models with Cross-Architecture
Knowledge Distillation" (arXiv 2010.02666, 2020).

Inputs: ``labels`` = teacher scores ``[batch, list_size]`` (list_size >= 2). Every ordered pair
(i, j) of a row contributes ``((s_i - s_j) - (t_i - t_j))**2``; student cosine similarities are
multiplied by ``student_scale`` first, since a teacher probability spans [0, 1] and a cosine
margin is small.

Example::

    >>> s = torch.tensor([[0.9, 0.1]]); t = torch.tensor([[0.9, 0.1]])
    >>> float(margin_mse_loss(s, t))
    0.0
"""

from __future__ import annotations

import torch
from torch import nn

from components.losses.batch import TextBatch, cosine_scores
from components.losses.shapes import require_2d, require_min_list, require_same_shape

FIX = ("Give each keyphrase a list of >= 2 items with one teacher score per item "
       "(components.training.examples.distillation_lists).")


def margin_mse_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor,
                    student_scale: float = 1.0) -> torch.Tensor:
    """Mean squared difference of all within-row margins; both ``[batch, list_size]``."""
    require_2d("student_scores", student_scores, FIX)
    require_same_shape("student_scores", student_scores, "teacher_scores", teacher_scores, FIX)
    require_min_list("teacher_scores", teacher_scores, 2, FIX)
    s = student_scores.float() * student_scale
    t = teacher_scores.float()
    student_margin = s[:, :, None] - s[:, None, :]
    teacher_margin = t[:, :, None] - t[:, None, :]
    n = s.shape[1]
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=s.device)
    return ((student_margin - teacher_margin) ** 2)[:, off_diagonal].mean()


class MarginMSELoss(nn.Module):
    """Task loss for cross-encoder distillation by margins; see the module docstring."""

    def __init__(self, student_scale: float = 1.0):
        super().__init__()
        self.student_scale = student_scale

    def forward(self, keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                batch: TextBatch) -> torch.Tensor:
        scores = cosine_scores(keyphrase_emb, item_emb, batch.list_size)
        return margin_mse_loss(scores, batch.labels.to(scores.device), self.student_scale)
