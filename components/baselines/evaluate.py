"""Evaluate any pair scorer on the human labels: query side and item side.

Query side: each query's judged products are ranked by the scorer (nDCG@k, recall@k,
precision@k, MRR). Item side: each judged item of the chosen queries gets its top-k
keyphrases from the whole keyphrase universe (ESCI + WANDS), and we count how many of the
judged ones humans called irrelevant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from components.baselines.rankers import score_matrix
from components.data.esci import Item, Judgment
from components.data.keyphrases import Keyphrase
from components.metrics.ranking import evaluate_query_rankings, irrelevant_rate_at_k


def query_side(scorer, items: Mapping[str, Item], judgments: Sequence[Judgment],
               item_fields: Sequence[str], k: int = 10, gains: Mapping[str, float] | None = None,
               relevant: Collection[str] | None = None) -> dict:
    """``gains`` / ``relevant`` default to ESCI's (see ``evaluate_query_rankings``)."""
    pairs = [(j.query_id, j.query, j.item_id) for j in judgments]
    scores = scorer.score_pairs([p[1] for p in pairs],
                                [items[p[2]].text(item_fields) for p in pairs])
    by_query: dict[str, dict[str, float]] = defaultdict(dict)
    for (qid, _, iid), s in zip(pairs, scores, strict=True):
        by_query[qid][iid] = float(s)
    return evaluate_query_rankings(by_query, judgments, k=k, gains=gains, relevant=relevant)


def item_side(scorer, items: Mapping[str, Item], judgments: Sequence[Judgment],
              universe: Sequence[Keyphrase], item_fields: Sequence[str], k: int = 10,
              irrelevant: Collection[str] = ("I",)) -> dict:
    item_ids = sorted({j.item_id for j in judgments})
    matrix = score_matrix(scorer, [kp.text for kp in universe],
                          [items[i].text(item_fields) for i in item_ids])
    top = np.argsort(-matrix, axis=1, kind="stable")[:, :k]
    # Judged keyphrases have ids "esci:<query_id>" (or "judged:<query_id>" for an external
    # judgments file); judgments are keyed by query_id.
    qid = [kp.keyphrase_id.split(":", 1)[1] if kp.source in ("esci", "judged") else None
           for kp in universe]
    recommended = {iid: [qid[c] for c in row if qid[c] is not None]
                   for iid, row in zip(item_ids, top, strict=True)}
    return irrelevant_rate_at_k(recommended, judgments, k=k, irrelevant=irrelevant)


def evaluate_scorer(scorer, items, judgments, universe, item_fields, k: int = 10) -> dict:
    q = query_side(scorer, items, judgments, item_fields, k)
    it = item_side(scorer, items, judgments, universe, item_fields, k)
    return {
        **q["macro"],
        f"irrelevant_rate@{k}": it["micro"],
        f"irrelevant_rate@{k}_macro": it["macro"],
        "judged_recommendations": it["judged_pairs"],
        "queries": q["queries_counted"][f"ndcg@{k}"],
        "per_query": q["per_query"],
    }
