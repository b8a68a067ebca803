"""In-batch contrastive loss (InfoNCE / multiple-negatives ranking) on clicked pairs.

Paper: van den Oord et al., "Representation Learning with Contrastive Predictive Coding"
(2018); Henderson et al., "Efficient Natural Language Response Suggestion for Smart Reply"
(2017), the multiple-negatives ranking loss of sentence-transformers.

Inputs: pairs (keyphrase, clicked item), ``list_size == 1``, no labels. Every other item of
the batch is a negative for a keyphrase; ``groups`` (one id per row, e.g. the keyphrase id)
masks in-batch "negatives" that share the row's group, which would be false negatives.

Example::

    >>> q = torch.eye(2); d = torch.eye(2)
    >>> float(in_batch_contrastive_loss(q, d, scale=20.0)) < 1e-6
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from components.losses.batch import TextBatch
from components.losses.shapes import LabelShapeError


def in_batch_contrastive_loss(keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                              scale: float = 20.0, groups: torch.Tensor | None = None,
                              symmetric: bool = False) -> torch.Tensor:
    """Cross-entropy of each keyphrase against all items of the batch (row i's item is right).

    ``keyphrase_emb`` and ``item_emb``: ``[batch, dim]``, row i a positive pair.
    """
    if keyphrase_emb.shape != item_emb.shape or keyphrase_emb.dim() != 2:
        raise LabelShapeError(
            f"expected two [batch, dim] tensors of equal shape, got {tuple(keyphrase_emb.shape)} "
            f"and {tuple(item_emb.shape)}; give this loss (keyphrase, clicked item) pairs "
            "with list_size=1")
    q = F.normalize(keyphrase_emb.float(), dim=-1)
    d = F.normalize(item_emb.float(), dim=-1)
    logits = scale * q @ d.T
    if groups is not None:
        if groups.shape != (q.shape[0],):
            raise LabelShapeError(f"groups must be [batch] = [{q.shape[0]}], got "
                                  f"{tuple(groups.shape)}; pass one group id per pair")
        same = groups[:, None] == groups[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same.to(logits.device), float("-inf"))
    target = torch.arange(q.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, target)) / 2
    return loss


class MultipleNegativesRankingLoss(nn.Module):
    """Task loss for clicked pairs; see the module docstring."""

    def __init__(self, scale: float = 20.0, symmetric: bool = True):
        super().__init__()
        self.scale = scale
        self.symmetric = symmetric

    def forward(self, keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                batch: TextBatch) -> torch.Tensor:
        if batch.list_size != 1:
            raise LabelShapeError("the contrastive loss takes (keyphrase, item) pairs; "
                                  f"got lists of {batch.list_size} items")
        return in_batch_contrastive_loss(keyphrase_emb, item_emb, self.scale, batch.groups,
                                         self.symmetric)
