"""Ranking metrics with ESCI gains, computed tie-aware.

A ranker may give several products the same score. Breaking such ties by id or input order
would reward or punish a model for an accident of storage, so every metric here is the
*expected* value over all orders of tied products (McSherry & Najork, "Computing Information
Retrieval Performance Measures Efficiently in the Presence of Tied Scores", ECIR 2008).
Without ties the values equal the usual definitions.

Conventions (each tested):
- gains: E 1.0, S 0.1, C 0.01, I 0 (ESCI / KDD Cup 2022); "relevant" means E or S;
- DCG uses gain / log2(rank + 1);
- a query with no relevant product has recall and MRR undefined (NaN) and nDCG undefined when
  its ideal DCG is 0; undefined values are left out of macro averages, and each macro average
  reports how many queries it covers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from components.data.esci import ESCI_GAINS, RELEVANT_GRADES, Judgment


def _tie_groups(scores: Sequence[float]) -> list[np.ndarray]:
    """Indices grouped by equal score, groups ordered by descending score."""
    arr = np.asarray(scores, dtype=float)
    if arr.size == 0:
        return []
    if np.isnan(arr).any():
        raise ValueError("scores contain NaN; a ranker must score every product")
    order = np.argsort(-arr, kind="stable")
    groups, start = [], 0
    for i in range(1, len(order) + 1):
        if i == len(order) or arr[order[i]] != arr[order[start]]:
            groups.append(order[start:i])
            start = i
    return groups


def _expected_topk(scores: Sequence[float], values: Sequence[float], k: int,
                   discount: bool) -> float:
    """Expected sum over the top-k positions of value (× 1/log2(rank+1) if discount)."""
    vals = np.asarray(values, dtype=float)
    total, pos = 0.0, 0
    for group in _tie_groups(scores):
        if pos >= k:
            break
        n = len(group)
        ranks = np.arange(pos + 1, min(pos + n, k) + 1)
        weight = (1.0 / np.log2(ranks + 1)).sum() if discount else float(len(ranks))
        total += vals[group].mean() * weight
        pos += n
    return total


def _validate(scores, grades, gains: Mapping[str, float] = ESCI_GAINS):
    if len(scores) != len(grades):
        raise ValueError(f"got {len(scores)} scores for {len(grades)} graded products")
    unknown = set(grades) - set(gains)
    if unknown:
        raise ValueError(f"unknown grades {sorted(unknown)}; expected {'/'.join(gains)}")


def _validate_for(scores, grades, relevant: Collection[str]) -> None:
    """ESCI grades are checked when ESCI's relevant set is used; other grade sets pass through
    (``evaluate_query_rankings`` checks them against their gain mapping)."""
    _validate(scores, grades, ESCI_GAINS if relevant is RELEVANT_GRADES
              else dict.fromkeys(grades, 0.0))


def ndcg_at_k(scores: Sequence[float], grades: Sequence[str], k: int = 10,
              gain_of: Mapping[str, float] = ESCI_GAINS) -> float:
    """nDCG@k of products ranked by score; NaN when no product has a positive gain.
    ``gain_of`` maps each grade to its gain (ESCI's by default)."""
    _validate(scores, grades, gain_of)
    gains = [gain_of[g] for g in grades]
    ideal_order = sorted(gains, reverse=True)
    idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal_order[:k]))
    if idcg == 0:
        return float("nan")
    return _expected_topk(scores, gains, k, discount=True) / idcg


def precision_at_k(scores: Sequence[float], grades: Sequence[str], k: int = 10,
                   relevant: Collection[str] = RELEVANT_GRADES) -> float:
    """Expected share of relevant (E/S) products among the top k (k capped at the list length)."""
    _validate_for(scores, grades, relevant)
    if not grades:
        return float("nan")
    rel = [1.0 if g in relevant else 0.0 for g in grades]
    return _expected_topk(scores, rel, k, discount=False) / min(k, len(grades))


def recall_at_k(scores: Sequence[float], grades: Sequence[str], k: int = 10,
                relevant: Collection[str] = RELEVANT_GRADES) -> float:
    """Expected share of the query's relevant (E/S) products in the top k; NaN if it has none."""
    _validate_for(scores, grades, relevant)
    rel = [1.0 if g in relevant else 0.0 for g in grades]
    n_rel = sum(rel)
    if n_rel == 0:
        return float("nan")
    return _expected_topk(scores, rel, k, discount=False) / n_rel


def mrr(scores: Sequence[float], grades: Sequence[str],
        relevant: Collection[str] = RELEVANT_GRADES) -> float:
    """Expected reciprocal rank of the first relevant (E/S) product; NaN if there is none."""
    _validate_for(scores, grades, relevant)
    rel = np.array([g in relevant for g in grades])
    if not rel.any():
        return float("nan")
    pos = 0
    for group in _tie_groups(scores):
        n, r = len(group), int(rel[group].sum())
        if r:
            # P(first relevant of the group sits at offset j) = C(n-1-j, r-1) / C(n, r)
            total = math.comb(n, r)
            return sum(math.comb(n - 1 - j, r - 1) / total / (pos + j + 1)
                       for j in range(n - r + 1))
        pos += n
    return float("nan")  # unreachable: some group holds a relevant product


def _macro(values: list[float]) -> tuple[float, int]:
    kept = [v for v in values if not math.isnan(v)]
    return (float(np.mean(kept)) if kept else float("nan")), len(kept)


def evaluate_query_rankings(scores: Mapping[str, Mapping[str, float]],
                            judgments: Sequence[Judgment], k: int = 10,
                            gains: Mapping[str, float] | None = None,
                            relevant: Collection[str] | None = None) -> dict:
    """Rank each query's judged products by ``scores[query_id][item_id]`` and average.

    ``gains`` (grade → gain) and ``relevant`` (the grades recall, precision and MRR count)
    default to ESCI's. Every judged product of a scored query must have a score. Returns
    ``{"macro": {metric: value}, "queries_counted": {metric: n}, "per_query": {qid: {...}}}``.
    """
    by_query: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        if j.query_id in scores:
            by_query[j.query_id].append(j)
    per_query = {}
    for qid, js in sorted(by_query.items()):
        qscores = scores[qid]
        missing = [j.item_id for j in js if j.item_id not in qscores]
        if missing:
            raise ValueError(f"query {qid}: no score for {len(missing)} judged items, "
                             f"e.g. {missing[:3]}")
        s = [qscores[j.item_id] for j in js]
        g = [j.grade for j in js]
        gain_of = gains or ESCI_GAINS
        rel = RELEVANT_GRADES if relevant is None else relevant
        _validate(s, g, gain_of)
        per_query[qid] = {
            f"ndcg@{k}": ndcg_at_k(s, g, k, gain_of),
            f"recall@{k}": recall_at_k(s, g, k, rel),
            f"precision@{k}": precision_at_k(s, g, k, rel),
            "mrr": mrr(s, g, rel),
        }
    metrics = [f"ndcg@{k}", f"recall@{k}", f"precision@{k}", "mrr"]
    macro, counted = {}, {}
    for m in metrics:
        macro[m], counted[m] = _macro([pq[m] for pq in per_query.values()])
    return {"macro": macro, "queries_counted": counted, "per_query": per_query}


def irrelevant_rate_at_k(recommended: Mapping[str, Sequence[str]],
                         judgments: Sequence[Judgment], k: int = 10,
                         irrelevant: Collection[str] = ("I",)) -> dict:
    """Item side: among an item's top-k recommended keyphrases (ESCI query ids) that humans
    judged for that item, the share judged irrelevant (``irrelevant`` grades: I).

    ``micro`` pools all judged recommended pairs; ``macro`` averages over items that have at
    least one judged pair in their top k; ``judged_pairs`` and ``items_counted`` say how
    much evidence there is.
    """
    grade_of = {(j.item_id, j.query_id): j.grade for j in judgments}
    irrelevant_grades = frozenset(irrelevant)
    irrelevant = judged = 0
    per_item = []
    for item_id, keyphrases in recommended.items():
        grades = [grade_of[(item_id, q)] for q in list(keyphrases)[:k]
                  if (item_id, q) in grade_of]
        if not grades:
            continue
        bad = sum(g in irrelevant_grades for g in grades)
        irrelevant += bad
        judged += len(grades)
        per_item.append(bad / len(grades))
    return {
        "micro": irrelevant / judged if judged else float("nan"),
        "macro": float(np.mean(per_item)) if per_item else float("nan"),
        "judged_pairs": judged,
        "items_counted": len(per_item),
    }
