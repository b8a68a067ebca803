"""Optimiser and learning-rate schedule shared by both trainers."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR


def adamw_with_warmup(params, learning_rate: float, total_steps: int,
                      warmup_fraction: float, weight_decay: float = 0.01):
    """AdamW with linear warm-up then linear decay to zero."""
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, LambdaLR(optimizer, factor)
