"""Optimiser and learning-rate schedule shared by both trainers."""

from __future__ import annotations

import torch
from transformers import get_linear_schedule_with_warmup


def adamw_with_warmup(params, learning_rate: float, total_steps: int,
                      warmup_fraction: float, weight_decay: float = 0.01):
    """AdamW with transformers' linear warm-up then linear decay to zero (the schedule the
    sentence-transformers trainer uses too)."""
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    warmup = max(1, int(total_steps * warmup_fraction))
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
