"""Losses of the student and the cross-encoder, one per module.

Each module holds a pure function that computes the loss from embeddings or scores and labels
(tested on hand-made tensors), and a small class that the multi-task trainer calls with
``(keyphrase_embeddings, item_embeddings, batch)``. ``MatryoshkaLoss`` wraps any of them.
"""

from components.losses.batch import TextBatch, cosine_scores
from components.losses.contrastive import MultipleNegativesRankingLoss, in_batch_contrastive_loss
from components.losses.dimension_kl import dimension_kl_loss
from components.losses.dimension_margin import DimensionMarginLoss, dimension_margin_loss
from components.losses.judge_bce import JudgeBCELoss, judge_bce_loss
from components.losses.listwise_kl import ListwiseKLLoss, listwise_kl_loss
from components.losses.margin_mse import MarginMSELoss, margin_mse_loss
from components.losses.matryoshka import MatryoshkaLoss, truncate_embeddings
from components.losses.pearson import PearsonDistillationLoss, pearson_distillation_loss
from components.losses.shapes import LabelShapeError

LOSSES = {
    "contrastive": MultipleNegativesRankingLoss,
    "pearson": PearsonDistillationLoss,
    "margin_mse": MarginMSELoss,
    "listwise_kl": ListwiseKLLoss,
    "judge_bce": JudgeBCELoss,
    "dimension_margin": DimensionMarginLoss,
}

__all__ = [
    "LOSSES",
    "DimensionMarginLoss",
    "JudgeBCELoss",
    "LabelShapeError",
    "ListwiseKLLoss",
    "MarginMSELoss",
    "MatryoshkaLoss",
    "MultipleNegativesRankingLoss",
    "PearsonDistillationLoss",
    "TextBatch",
    "cosine_scores",
    "dimension_kl_loss",
    "dimension_margin_loss",
    "in_batch_contrastive_loss",
    "judge_bce_loss",
    "listwise_kl_loss",
    "margin_mse_loss",
    "pearson_distillation_loss",
    "truncate_embeddings",
]
