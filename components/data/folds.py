"""K-fold cross-validation over queries: every query is tested exactly once.

With 150 labelled queries one 30-query test split gives a noisy number; k folds test every
query once and let results be compared per query (``components.metrics.bootstrap``). Queries
are ranked by the same seeded hash as :func:`components.data.splits.split_queries`, so the
folds do not depend on input order or Python's hash seed.

Example::

    for split in query_folds({j.query_id for j in judgments}):
        train, validation, test = (split.queries(s) for s in SPLITS)
"""

from __future__ import annotations

from collections.abc import Iterable

from components.data.splits import QuerySplit, SplitConfig, _rank_key


def query_folds(query_ids: Iterable[str], n_folds: int = 5, seed: int = 13,
                validation_fraction: float = 0.2) -> list[QuerySplit]:
    """One train / validation / test split per fold.

    The ranked queries are dealt into ``n_folds`` contiguous test blocks whose sizes differ by
    at most one; fold ``f`` tests block ``f``. Its validation queries are the
    ``round(validation_fraction * rest)`` queries (at least one) that follow block ``f`` in
    rank order, wrapping around; the rest train. Each ``QuerySplit.config`` records the seed
    and the fold's realised validation and test fractions.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction}")
    ordered = sorted(set(query_ids), key=lambda q: _rank_key(seed, q))
    n = len(ordered)
    if n_folds > n:
        raise ValueError(f"n_folds={n_folds} is more than the {n} distinct queries")
    bounds = [f * n // n_folds for f in range(n_folds + 1)]
    splits = []
    for f in range(n_folds):
        start, end = bounds[f], bounds[f + 1]
        rest = ordered[end:] + ordered[:start]
        n_val = max(1, round(validation_fraction * len(rest)))
        if n_val >= len(rest):
            raise ValueError(f"{n} queries are too few for {n_folds} folds with a validation "
                             f"and a train query in each; use fewer folds")
        assignment = dict.fromkeys(ordered[start:end], "test")
        assignment |= dict.fromkeys(rest[:n_val], "validation")
        assignment |= dict.fromkeys(rest[n_val:], "train")
        config = SplitConfig(seed=seed, validation_fraction=n_val / n,
                             test_fraction=(end - start) / n)
        splits.append(QuerySplit(assignment=assignment, config=config))
    return splits
