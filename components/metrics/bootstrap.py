"""Is system A better than system B on these queries? A paired bootstrap over queries.

Both systems are scored on the same queries, so the per-query differences carry the
comparison; resampling queries with replacement (Efron & Tibshirani, "An Introduction to the
Bootstrap", 1993; for IR, Sakai, "Evaluating evaluation metrics based on the bootstrap",
SIGIR 2006) gives a percentile interval for the mean difference and an achieved significance
level. Per-query values come from ``components.metrics.ranking`` (e.g. nDCG@10 per query id),
averaged over training seeds with :func:`mean_over_seeds` first when there are several runs.

Example::

    result = paired_bootstrap(ndcg_student, ndcg_bm25)
    if result["ci_low"] > 0: ...  # the student is better on these queries
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def paired_bootstrap(a: Mapping[str, float], b: Mapping[str, float], n_resamples: int = 10000,
                     seed: int = 0, confidence: float = 0.95) -> dict:
    """Mean of ``a - b`` over shared queries with a bootstrap percentile interval.

    Queries where either value is NaN are dropped (pairwise). Returns ``mean``, ``ci_low``,
    ``ci_high`` (the ``confidence`` percentile interval of resampled means), ``n_queries`` and
    ``p_value_two_sided``: twice the share of resampled means on the other side of zero from
    ``mean`` (1.0 when ``mean`` is 0), capped at 1. Deterministic for a seed and independent of
    mapping order. Raises ValueError when no query has a value in both.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    shared = sorted(q for q in a.keys() & b.keys()
                    if not (math.isnan(a[q]) or math.isnan(b[q])))
    if not shared:
        raise ValueError("a and b share no query with a value in both; check the query ids")
    diffs = np.array([a[q] - b[q] for q in shared], dtype=float)
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(n_resamples, len(diffs)))].mean(axis=1)
    mean = float(diffs.mean())
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    if mean > 0:
        other_side = float(np.mean(means <= 0))
    elif mean < 0:
        other_side = float(np.mean(means >= 0))
    else:
        other_side = 0.5
    return {
        "mean": mean,
        "ci_low": float(low),
        "ci_high": float(high),
        "n_queries": len(shared),
        "p_value_two_sided": min(1.0, 2 * other_side),
    }


def mean_over_seeds(per_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each query's value averaged over runs (seeds); only queries present in every run."""
    if not per_seed:
        raise ValueError("per_seed is empty: pass one mapping of query id -> value per seed")
    shared = set(per_seed[0]).intersection(*per_seed[1:])
    return {q: float(np.mean([run[q] for run in per_seed])) for q in sorted(shared)}
