"""Stand-in models until trained ones exist: the zero-shot MiniLM student, and a MiniLM
cross-encoder with a fresh one-logit head (seeded, so every build gives the same weights), with
untrained dimension heads beside it when asked (the layout ``components.training.cross_encoder``
saves: 3 logits per dimension after the relevance logit, names in ``kpdistill_dimensions``)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from components.models.pretrained import minilm_path
from components.settings import cache_dir


def standin_student() -> Path:
    return minilm_path()


def standin_cross_encoder(out_dir: Path | None = None, seed: int = 0,
                          dimensions: tuple[str, ...] = ()) -> Path:
    """A ``CrossEncoder`` directory: MiniLM body, untrained sigmoid head (P(relevant)), and an
    untrained 3-way head per name of ``dimensions``."""
    heads = "-dims-" + hashlib.sha1(",".join(dimensions).encode()).hexdigest()[:8] \
        if dimensions else ""
    target = Path(out_dir) if out_dir else \
        cache_dir() / "models" / f"minilm-cross-encoder-seed{seed}{heads}"
    if (target / "model.safetensors").is_file():
        return target
    import torch
    from sentence_transformers import CrossEncoder
    torch.manual_seed(seed)
    model = CrossEncoder(str(minilm_path()), num_labels=1 + 3 * len(dimensions), device="cpu")
    if dimensions:
        from components.models.cross_encoder import transformers_model
        transformers_model(model).config.kpdistill_dimensions = list(dimensions)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "model.safetensors").is_file():
            raise
    return target
