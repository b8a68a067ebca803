"""The exported computations: encoder + pooling + L2 norm (student), encoder + sigmoid head
(cross-encoder; plus the softmax of each dimension head where it was trained with them). Plain
torch modules over a Hugging Face backbone, shared by the ONNX export,
the parity check and the GPU Python-backend model (this file is copied next to its model.py,
so it imports nothing from the project).

Inputs are the tokenizer's named tensors: ``input_ids`` and ``attention_mask`` (int64,
``[batch, sequence]``), plus ``token_type_ids`` for the cross-encoder's (item, keyphrase) pairs.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

POOLING_MODES = ("mean", "cls", "max")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool token states ``[B, T, H]`` into ``[B, H]`` over the non-padding tokens."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "mean":
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).amax(dim=1)
    raise ValueError(f"unknown pooling mode {mode!r}; known: {POOLING_MODES}")


def normalized_embedding(pooled: torch.Tensor, dim: int | None) -> torch.Tensor:
    """L2-normalised embedding, truncated first to a Matryoshka ``dim`` when one is given."""
    if dim is not None:
        pooled = pooled[:, :dim]
    return F.normalize(pooled.float(), p=2.0, dim=1)


class EmbeddingGraph(nn.Module):
    """``(input_ids, attention_mask) -> embedding [B, D]``, unit length."""

    def __init__(self, backbone: nn.Module, pooling: str = "mean", dim: int | None = None):
        super().__init__()
        if pooling not in POOLING_MODES:
            raise ValueError(f"unknown pooling mode {pooling!r}; known: {POOLING_MODES}")
        self.backbone, self.pooling, self.dim = backbone, pooling, dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return normalized_embedding(pool(hidden, attention_mask, self.pooling), self.dim)


SCORE_OUTPUT = "score"
DIMENSIONS_OUTPUT = "dimensions"
DIMENSION_ANSWERS = ("yes", "no", "na")  # the order of a head's logits (components.contracts)


class ScoreGraph(nn.Module):
    """``(input_ids, attention_mask, token_type_ids) -> score [B, 1]``, the sigmoid P(relevant).

    A cross-encoder trained with dimension heads (``config.kpdistill_dimensions``: one 3-way
    head per judge dimension after the relevance logit) also returns ``dimensions [B, D, 3]``:
    each head's softmax over P(yes), P(no), P(not mentioned), in the dimension set's order.
    """

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier
        self.dimensions = tuple(_dimensions(classifier))

    @property
    def output_names(self) -> tuple[str, ...]:
        return (SCORE_OUTPUT, DIMENSIONS_OUTPUT) if self.dimensions else (SCORE_OUTPUT,)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor):
        logits = self.classifier(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).logits
        heads = len(DIMENSION_ANSWERS) * len(self.dimensions)
        if logits.shape[-1] != 1 + heads:
            raise ValueError(f"cross-encoder must have one relevance logit (and 3 per "
                             f"dimension head), got {logits.shape[-1]}")
        score = torch.sigmoid(logits[:, :1].float())
        if not self.dimensions:
            return score
        answers = logits[:, 1:].float().reshape(-1, len(self.dimensions), len(DIMENSION_ANSWERS))
        return score, torch.softmax(answers, dim=-1)


def student_pooling(student_dir: Path) -> str:
    """The pooling mode of a sentence-transformers directory (``1_Pooling/config.json``)."""
    modules = json.loads((Path(student_dir) / "modules.json").read_text())
    for module in modules:
        if module["type"].endswith("Pooling"):
            cfg = json.loads((Path(student_dir) / module["path"] / "config.json").read_text())
            # sentence-transformers >= 6 writes {"pooling_mode": "mean"}; older, one flag a mode.
            mode = cfg.get("pooling_mode")
            if isinstance(mode, str) and mode in ("mean", "cls", "max"):
                return mode
            if cfg.get("pooling_mode_mean_tokens"):
                return "mean"
            if cfg.get("pooling_mode_cls_token"):
                return "cls"
            if cfg.get("pooling_mode_max_tokens"):
                return "max"
            raise ValueError(f"{student_dir}: unsupported pooling config {cfg}")
    raise ValueError(f"{student_dir}: no Pooling module in modules.json")


def backbone_dir(model_dir: Path) -> Path:
    """Folder of the Transformer module of a sentence-transformers directory."""
    modules_file = Path(model_dir) / "modules.json"
    if not modules_file.is_file():
        return Path(model_dir)
    for module in json.loads(modules_file.read_text()):
        if module["type"].endswith("Transformer"):
            return Path(model_dir) / module["path"]
    raise ValueError(f"{model_dir}: no Transformer module in modules.json")


def load_embedding_graph(student_dir: Path, dim: int | None = None,
                         attn_implementation: str = "eager") -> EmbeddingGraph:
    from transformers import AutoModel
    backbone = AutoModel.from_pretrained(backbone_dir(student_dir),
                                         attn_implementation=attn_implementation)
    return EmbeddingGraph(backbone, student_pooling(student_dir), dim).eval()


def load_score_graph(cross_encoder_dir: Path, attn_implementation: str = "eager") -> ScoreGraph:
    from transformers import AutoModelForSequenceClassification
    classifier = AutoModelForSequenceClassification.from_pretrained(
        backbone_dir(cross_encoder_dir), attn_implementation=attn_implementation)
    expected = 1 + 3 * len(_dimensions(classifier))
    if classifier.config.num_labels != expected:
        raise ValueError(f"{cross_encoder_dir}: cross-encoder must have num_labels={expected} "
                         f"(one relevance logit, 3 per dimension head), got "
                         f"{classifier.config.num_labels}")
    return ScoreGraph(classifier).eval()


def _dimensions(classifier) -> list[str]:
    """The judge dimensions a cross-encoder has heads for (components.training.cross_encoder)."""
    return list(getattr(classifier.config, "kpdistill_dimensions", None) or [])


def cross_encoder_dimensions(cross_encoder_dir: Path) -> tuple[str, ...]:
    """The dimension heads of a saved cross-encoder, read from its ``config.json`` (empty: the
    relevance head only)."""
    config = json.loads((backbone_dir(cross_encoder_dir) / "config.json").read_text())
    return tuple(config.get("kpdistill_dimensions") or ())
