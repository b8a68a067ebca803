"""Ranking metrics against human ESCI judgments (tie-aware)."""

from components.metrics.ranking import (
    evaluate_query_rankings,
    irrelevant_rate_at_k,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

__all__ = [
    "evaluate_query_rankings",
    "irrelevant_rate_at_k",
    "mrr",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]
