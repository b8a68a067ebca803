"""Multi-dimensional knowledge distillation into the cross-encoder's auxiliary heads.

Paper: Zhao et al., "Explainable LLM-driven Multi-dimensional Distillation for E-Commerce
Relevance Learning" (ELLM-rele + MKD, arXiv 2411.13045, WWW 2025): besides the relevance score,
the interaction model learns the LLM's judgment of each sub-dimension (product type, brand,
the attributes the query names).

Inputs: ``logits`` ``[batch, dims, 3]`` (one head of three answers per dimension: yes, no,
not mentioned) and the judge's soft answers ``target`` of the same shape (each row sums to
1). ``mask`` ``[batch, dims]`` (optional) is 0 where the judge has no answer for a
dimension. The loss is ``KL(target || softmax(logits))`` averaged over the answered
(pair, dimension) cells; no answered cell gives a zero loss that still backpropagates.

Example::

    >>> t = torch.tensor([[[0.7, 0.2, 0.1]]])
    >>> round(float(dimension_kl_loss(t.log(), t)), 6)
    0.0
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from components.losses.shapes import LabelShapeError

ANSWERS = ("yes", "no", "na")
FIX = ("Give each pair the judge's dimension answers as {dimension: {yes, no, na}} "
       "(TeacherLabel.dimensions) and stack them as [pairs, dimensions, 3].")


def dimension_kl_loss(logits: torch.Tensor, target: torch.Tensor,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over answered (pair, dimension) cells of ``KL(target || softmax(logits))``."""
    if logits.dim() != 3 or logits.shape[-1] != len(ANSWERS):
        raise LabelShapeError(f"logits must be [batch, dims, {len(ANSWERS)}], got "
                              f"{tuple(logits.shape)}. {FIX}")
    if target.shape != logits.shape:
        raise LabelShapeError(f"target has shape {tuple(target.shape)} but logits "
                              f"{tuple(logits.shape)}. {FIX}")
    if mask is None:
        mask = torch.ones(logits.shape[:2], device=logits.device)
    if mask.shape != logits.shape[:2]:
        raise LabelShapeError(f"mask must be [batch, dims] = {tuple(logits.shape[:2])}, got "
                              f"{tuple(mask.shape)}. {FIX}")
    t = target.float().clamp_min(1e-6)
    t = t / t.sum(dim=-1, keepdim=True)
    cell = (t * (t.log() - F.log_softmax(logits.float(), dim=-1))).sum(dim=-1)
    weight = mask.float()
    return (cell * weight).sum() / weight.sum().clamp_min(1.0)
