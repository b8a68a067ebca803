"""Shape checks whose errors say how to fix the data, not only what is wrong."""

from __future__ import annotations

import torch


class LabelShapeError(ValueError):
    """Labels or scores do not have the shape a loss expects."""


def require_2d(name: str, tensor: torch.Tensor, fix: str) -> None:
    if tensor.dim() != 2:
        raise LabelShapeError(
            f"{name} must be 2-D [batch, list_size], got shape {tuple(tensor.shape)}. {fix}")


def require_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor,
                       fix: str) -> None:
    if a.shape != b.shape:
        raise LabelShapeError(
            f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}. {fix}")


def require_min_list(name: str, tensor: torch.Tensor, minimum: int, fix: str) -> None:
    if tensor.shape[-1] < minimum:
        raise LabelShapeError(
            f"{name} lists hold {tensor.shape[-1]} entries; this loss needs at least {minimum}. "
            f"{fix}")


def require_probabilities(name: str, tensor: torch.Tensor, fix: str) -> None:
    if torch.isnan(tensor).any() or (tensor < 0).any() or (tensor > 1).any():
        raise LabelShapeError(f"{name} must be probabilities in [0, 1]. {fix}")
