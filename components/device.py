"""Device choice and mixed precision for every torch step: bf16 on CUDA, fp32 on CPU."""

from __future__ import annotations

import contextlib
import os

import torch


def pick_device(preferred: str | None = None) -> torch.device:
    """``preferred`` (unless None or "auto") or env ``KPDISTILL_DEVICE``, else CUDA when
    present, else CPU."""
    name = preferred if preferred not in (None, "auto") else os.environ.get("KPDISTILL_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compute_dtype(device: torch.device) -> torch.dtype:
    """The dtype a model runs in on ``device``: bf16 on CUDA, fp32 on CPU."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
