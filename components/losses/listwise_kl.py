"""Listwise KL distillation: the student's softmax over a keyphrase's items follows the teacher's.

Paper: Cao et al., "Learning to Rank: From Pairwise Approach to Listwise Approach" (ListNet,
ICML 2007), used for distillation as in RocketQAv2 (Ren et al., EMNLP 2021).

Inputs: ``labels`` = teacher probabilities ``[batch, list_size]`` in [0, 1]. The teacher's
distribution is ``softmax(logit(p) / teacher_temperature)``, the student's
``softmax(scale * cosine)``; the loss is ``KL(teacher || student)`` averaged over rows.

Example::

    >>> s = torch.tensor([[0.0, 0.0]]); t = torch.tensor([[0.5, 0.5]])
    >>> abs(float(listwise_kl_loss(s, t))) < 1e-6
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from components.losses.batch import TextBatch, cosine_scores
from components.losses.shapes import (
    require_2d,
    require_min_list,
    require_probabilities,
    require_same_shape,
)

FIX = ("Give each keyphrase a list of >= 2 items with the cross-encoder's P(relevant) per item "
       "(components.training.examples.distillation_lists).")


def listwise_kl_loss(student_scores: torch.Tensor, teacher_probs: torch.Tensor,
                     scale: float = 1.0, teacher_temperature: float = 1.0,
                     eps: float = 1e-4) -> torch.Tensor:
    """``KL(softmax(logit(teacher)/T) || softmax(scale * student))``, mean over rows."""
    require_2d("student_scores", student_scores, FIX)
    require_same_shape("student_scores", student_scores, "teacher_probs", teacher_probs, FIX)
    require_min_list("teacher_probs", teacher_probs, 2, FIX)
    require_probabilities("teacher_probs", teacher_probs, FIX)
    p = teacher_probs.float().clamp(eps, 1 - eps)
    target = F.log_softmax(torch.logit(p) / teacher_temperature, dim=1)
    log_q = F.log_softmax(student_scores.float() * scale, dim=1)
    return F.kl_div(log_q, target, log_target=True, reduction="batchmean")


class ListwiseKLLoss(nn.Module):
    """Task loss for listwise distillation; see the module docstring."""

    def __init__(self, scale: float = 20.0, teacher_temperature: float = 1.0):
        super().__init__()
        self.scale = scale
        self.teacher_temperature = teacher_temperature

    def forward(self, keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                batch: TextBatch) -> torch.Tensor:
        scores = cosine_scores(keyphrase_emb, item_emb, batch.list_size)
        return listwise_kl_loss(scores, batch.labels.to(scores.device), self.scale,
                                self.teacher_temperature)
