"""Multi-dimensional knowledge distillation into the bi-encoder: a per-dimension margin.

A bi-encoder has one score per pair (the cosine), so the judge's dimension answers (ELLM-rele +
MKD, arXiv 2411.13045) reach it as ordering constraints: within one keyphrase's list, an item
the judge says *matches* on a dimension the query names (type, brand, size, ...) should score
above an item it says does *not*, by ``margin``. Each such (better, worse, dimension) triple
is weighted by how surely the query names the dimension for both items (``1 - P(not
mentioned)``) and by how far apart the two items' match probabilities are.

Inputs: ``scores`` ``[batch, list]`` (student cosines) and ``labels`` ``[batch, list, 2 * dims]``:
for each item, the match probabilities ``P(yes) / (P(yes) + P(no))`` of the ``dims``
dimensions, then their weights ``1 - P(not mentioned)``.

Example::

    >>> s = torch.tensor([[0.9, 0.1]])                    # the matching item scores higher
    >>> lab = torch.tensor([[[1.0, 1.0], [0.0, 1.0]]])    # one dimension: match 1 vs 0
    >>> float(dimension_margin_loss(s, lab, margin=0.5))
    0.0
"""

from __future__ import annotations

import torch
from torch import nn

from components.losses.batch import TextBatch, cosine_scores
from components.losses.shapes import LabelShapeError

FIX = ("Build dimension lists with components.training.examples.dimension_lists: per item the "
       "match probabilities of each dimension, then their weights.")


def dimension_margin_loss(scores: torch.Tensor, labels: torch.Tensor, margin: float = 0.1,
                          min_gap: float = 0.5) -> torch.Tensor:
    """Weighted mean hinge ``max(0, margin - (s_better - s_worse))`` over the triples whose
    match probabilities differ by at least ``min_gap``."""
    if scores.dim() != 2 or labels.dim() != 3 or labels.shape[:2] != scores.shape:
        raise LabelShapeError(f"scores must be [batch, list] and labels [batch, list, 2 * dims]"
                              f" on the same lists, got {tuple(scores.shape)} and "
                              f"{tuple(labels.shape)}. {FIX}")
    if labels.shape[-1] % 2 or labels.shape[-1] == 0:
        raise LabelShapeError(f"labels' last axis must hold 2 * dims numbers, got "
                              f"{labels.shape[-1]}. {FIX}")
    dims = labels.shape[-1] // 2
    match, weight = labels[..., :dims].float(), labels[..., dims:].float()
    gap = match.unsqueeze(2) - match.unsqueeze(1)                  # [b, i, j, d]: i better
    pair_weight = weight.unsqueeze(2) * weight.unsqueeze(1) * gap.clamp_min(0)
    pair_weight = pair_weight * (gap >= min_gap)
    diff = scores.float().unsqueeze(2) - scores.float().unsqueeze(1)  # [b, i, j]
    hinge = (margin - diff).clamp_min(0).unsqueeze(-1)
    total = pair_weight.sum()
    if total <= 0:
        return scores.sum() * 0.0
    return (hinge * pair_weight).sum() / total


class DimensionMarginLoss(nn.Module):
    """Task loss of the student's ``dimensions`` task; see the module docstring."""

    def __init__(self, margin: float = 0.1, min_gap: float = 0.5):
        super().__init__()
        self.margin, self.min_gap = margin, min_gap

    def forward(self, keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                batch: TextBatch) -> torch.Tensor:
        scores = cosine_scores(keyphrase_emb, item_emb, batch.list_size)
        return dimension_margin_loss(scores, batch.labels.to(scores.device), self.margin,
                                     self.min_gap)
