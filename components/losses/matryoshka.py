"""Matryoshka wrapper: the same loss on embeddings truncated to several leading dimensions.

Paper: Kusupati et al., "Matryoshka Representation Learning" (NeurIPS 2022). The first
``d`` coordinates of an embedding, re-normalised, are trained to be a good embedding on their
own, so serving can keep 256, 128 or 64 of 384 dimensions.

Example::

    >>> from components.losses.pearson import PearsonDistillationLoss
    >>> loss = MatryoshkaLoss(PearsonDistillationLoss(), dims=(384, 64))
    >>> batch = TextBatch(["mug"], ["red mug", "tent", "cup"], list_size=3,
    ...                   labels=torch.tensor([[0.9, 0.1, 0.6]]))
    >>> kp, items = torch.randn(1, 384), torch.randn(3, 384)
    >>> value = loss(kp, items, batch)  # the mean of the loss at 384 and at 64 dimensions
    >>> inner = PearsonDistillationLoss()
    >>> both = [inner(truncate_embeddings(kp, d), truncate_embeddings(items, d), batch)
    ...         for d in (384, 64)]
    >>> torch.allclose(value, sum(both) / 2)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from components.losses.batch import TextBatch


def truncate_embeddings(embeddings: torch.Tensor, dim: int) -> torch.Tensor:
    """The first ``dim`` coordinates, L2-normalised."""
    if not 0 < dim <= embeddings.shape[-1]:
        raise ValueError(f"cannot truncate {embeddings.shape[-1]}-d embeddings to {dim}")
    return F.normalize(embeddings[..., :dim], dim=-1)


class MatryoshkaLoss(nn.Module):
    """Weighted mean of ``inner`` over truncations to ``dims``."""

    def __init__(self, inner: nn.Module, dims: Sequence[int] = (384, 256, 128, 64),
                 weights: Sequence[float] | None = None):
        super().__init__()
        if not dims:
            raise ValueError("MatryoshkaLoss needs at least one dimension")
        weights = list(weights) if weights is not None else [1.0] * len(dims)
        if len(weights) != len(dims):
            raise ValueError(f"{len(dims)} dims but {len(weights)} weights")
        self.inner = inner
        self.dims = list(dims)
        self.weights = weights

    def forward(self, keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                batch: TextBatch) -> torch.Tensor:
        total = 0.0
        for dim, weight in zip(self.dims, self.weights, strict=True):
            total = total + weight * self.inner(truncate_embeddings(keyphrase_emb, dim),
                                                truncate_embeddings(item_emb, dim), batch)
        return total / sum(self.weights)
