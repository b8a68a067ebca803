"""Evaluate a trained student or cross-encoder on the human ESCI labels.

Query side (``components.baselines.evaluate.query_side``): each query's judged products ranked
by the model (nDCG@10, recall@10, precision@10, MRR). Item side: each judged item's top-10
keyphrases from the whole universe, share judged irrelevant. For the cross-encoder also the
judge's report: AUC of P(relevant) (E∪S vs C∪I) and Cohen's kappa of "relevant" at a threshold
chosen on the validation queries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from components.baselines.evaluate import item_side, query_side
from components.data.esci import Item, Judgment
from components.data.keyphrases import Keyphrase

METRICS = ("ndcg@10", "recall@10", "precision@10", "mrr", "irrelevant_rate@10")


class TruncatedEncoder:
    """A Matryoshka view of an encoder: its L2-normalised embeddings cut to the first ``dim``
    dimensions and normalised again (the same direction as truncating the raw embedding), so
    every dimension is evaluated from one encoding pass instead of one pass per dimension."""

    def __init__(self, encoder, dim: int, name: str):
        self.encoder, self.dim, self.name = encoder, int(dim), name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs = np.asarray(self.encoder.encode(texts))[:, : self.dim]
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-12)

    def score_pairs(self, keyphrases, item_texts) -> np.ndarray:
        a, b = self.encode(list(keyphrases)), self.encode(list(item_texts))
        return (a * b).sum(axis=1).astype(float)


def evaluate_ranker(scorer, items: Mapping[str, Item], judgments: Sequence[Judgment],
                    universe: Sequence[Keyphrase] | None, item_fields: Sequence[str],
                    k: int = 10) -> dict:
    """Query-side macro metrics, plus item side when a keyphrase ``universe`` is given."""
    q = query_side(scorer, items, judgments, item_fields, k)
    out = dict(q["macro"])
    out["queries"] = q["queries_counted"][f"ndcg@{k}"]
    out["per_query_ndcg@10"] = {qid: v[f"ndcg@{k}"] for qid, v in q["per_query"].items()}
    if universe is not None:
        it = item_side(scorer, items, judgments, universe, item_fields, k)
        out[f"irrelevant_rate@{k}"] = it["micro"]
        out[f"irrelevant_rate@{k}_macro"] = it["macro"]
        out["judged_recommendations"] = it["judged_pairs"]
    else:
        out[f"irrelevant_rate@{k}"] = float("nan")
    return out


def pair_probabilities(scorer, items: Mapping[str, Item], judgments: Sequence[Judgment],
                       item_fields: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(P(relevant) from the scorer, human relevant 0/1) of each judged pair."""
    p = scorer.score_pairs([j.query for j in judgments],
                           [items[j.item_id].text(item_fields) for j in judgments])
    y = np.array([1 if j.relevant else 0 for j in judgments])
    return np.asarray(p, dtype=float), y


def best_kappa_threshold(p: np.ndarray, y: np.ndarray,
                         grid: Sequence[float] = tuple(np.linspace(0.05, 0.95, 19))) -> float:
    """The threshold on P(relevant) with the highest Cohen's kappa (pick it on validation)."""
    kappas = [cohen_kappa_score(y, (p >= t).astype(int)) for t in grid]
    return float(grid[int(np.nanargmax(kappas))])


def classification_report(p: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """AUC, kappa and confusion counts of ``p >= threshold`` against human relevance."""
    pred = (p >= threshold).astype(int)
    auc = roc_auc_score(y, p) if 0 < y.sum() < len(y) else float("nan")
    return {
        "auc": float(auc),
        "kappa": float(cohen_kappa_score(y, pred)),
        "threshold": float(threshold),
        "accuracy": float((pred == y).mean()),
        "confusion": {"tp": int(((pred == 1) & (y == 1)).sum()),
                      "fp": int(((pred == 1) & (y == 0)).sum()),
                      "fn": int(((pred == 0) & (y == 1)).sum()),
                      "tn": int(((pred == 0) & (y == 0)).sum())},
        "pairs": len(y),
    }


def aggregate_seeds(runs: Sequence[Mapping[str, float]],
                    metrics: Sequence[str] = METRICS) -> tuple[dict, dict]:
    """Mean and sample standard deviation over seeds of each metric."""
    mean, std = {}, {}
    for m in metrics:
        values = [r[m] for r in runs if m in r and not math.isnan(r[m])]
        mean[m] = float(np.mean(values)) if values else float("nan")
        std[m] = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return mean, std


def metrics_markdown(rows: Mapping[str, Mapping[str, float]], stds: Mapping | None = None,
                     title: str = "test queries") -> str:
    """A Markdown table of ``rows`` (model key → metrics), ± std where given."""
    stds = stds or {}
    lines = [f"| model ({title}) | " + " | ".join(METRICS) + " |",
             "|---|" + "---|" * len(METRICS)]
    for key, row in rows.items():
        cells = []
        for m in METRICS:
            v = row.get(m, float("nan"))
            s = stds.get(key, {}).get(m)
            cell = "—" if v is None or math.isnan(v) else f"{v:.4f}"
            if s is not None and not math.isnan(s) and cell != "—":
                cell += f" ± {s:.4f}"
            cells.append(cell)
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
