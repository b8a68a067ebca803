"""Do the recommendations make sense? Top-k keyphrases per item, rated by a pair scorer.

Human labels cover only the pairs ESCI judged, so most of what a student recommends from a
universe of thousands of keyphrases carries no human grade. :func:`rated_recommendations`
asks a pair scorer (the assistant cross-encoder, or the LLM judge) about every recommended
pair instead; :func:`relevance_rate` is the share of the top-k it rates relevant
(P(relevant) ≥ ``threshold``). Human grades are attached where they exist.

Example::

    student = EncoderRanker(student_dir, "student")
    recs = recommend(student, items, universe, k=8)
    rated = rated_recommendations(recs, CrossEncoderScorer.load(assistant_dir), items, grades)
    relevance_rate(rated)                      # {"rate": 0.41, "pairs": 800, "items": 100}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from components.data.esci import Item, Judgment
from components.data.keyphrases import Keyphrase, normalize_keyphrase

ITEM_FIELDS = ("title", "brand", "category")


@dataclass
class Recommendation:
    item_id: str
    rank: int
    keyphrase: str
    source: str
    student_score: float
    rater_p: float | None = None
    human_grade: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def sample_items(items: Mapping[str, Item], judgments: Sequence[Judgment],
                 query_ids: Sequence[str], n: int) -> list[str]:
    """``n`` items judged for the given queries, evenly spaced over their sorted ids."""
    keep = set(query_ids)
    ids = sorted({j.item_id for j in judgments if j.query_id in keep and j.item_id in items})
    if n <= 0 or n >= len(ids):
        return ids
    step = len(ids) / n
    return [ids[int(i * step)] for i in range(n)]


def human_grades(judgments: Sequence[Judgment]) -> dict[tuple[str, str], str]:
    """(item id, normalised query text) → ESCI grade."""
    return {(j.item_id, normalize_keyphrase(j.query)): j.grade for j in judgments}


def recommend(encoder, items: Mapping[str, Item], item_ids: Sequence[str],
              universe: Sequence[Keyphrase], k: int = 8,
              fields: Sequence[str] = ITEM_FIELDS) -> list[Recommendation]:
    """Each item's ``k`` nearest keyphrases by the encoder's cosine (``encode`` protocol)."""
    kp_vecs = encoder.encode([kp.text for kp in universe])
    item_vecs = encoder.encode([items[i].text(fields) for i in item_ids])
    scores = item_vecs @ kp_vecs.T
    out = []
    for row, item_id in enumerate(item_ids):
        top = np.argsort(-scores[row], kind="stable")[:k]
        out += [Recommendation(item_id, rank + 1, universe[c].text, universe[c].source,
                               float(scores[row, c])) for rank, c in enumerate(top)]
    return out


def rated_recommendations(recs: list[Recommendation], scorer, items: Mapping[str, Item],
                          grades: Mapping[tuple[str, str], str] | None = None,
                          fields: Sequence[str] = ITEM_FIELDS) -> list[Recommendation]:
    """Fill ``rater_p`` from ``scorer.score_pairs`` (unless ``scorer`` is None) and
    ``human_grade`` where ESCI has one."""
    if recs and scorer is not None:
        p = scorer.score_pairs([r.keyphrase for r in recs],
                               [items[r.item_id].text(fields) for r in recs])
        for r, value in zip(recs, p, strict=True):
            r.rater_p = float(value)
    for r in recs:
        r.human_grade = (grades or {}).get((r.item_id, normalize_keyphrase(r.keyphrase)), "")
    return recs


def relevance_rate(recs: Sequence[Recommendation], threshold: float = 0.5) -> dict:
    """Share of rated recommendations with P(relevant) ≥ threshold, overall and per source."""
    rated = [r for r in recs if r.rater_p is not None]
    out = {"rate": float(np.mean([r.rater_p >= threshold for r in rated])) if rated else None,
           "mean_p": float(np.mean([r.rater_p for r in rated])) if rated else None,
           "threshold": threshold, "pairs": len(rated),
           "items": len({r.item_id for r in rated}), "by_source": {}}
    for source in sorted({r.source for r in rated}):
        part = [r for r in rated if r.source == source]
        out["by_source"][source] = {"pairs": len(part),
                                    "rate": float(np.mean([r.rater_p >= threshold
                                                           for r in part]))}
    human = [r for r in recs if r.human_grade]
    out["human_graded_pairs"] = len(human)
    out["human_relevant_share"] = (float(np.mean([r.human_grade in ("E", "S") for r in human]))
                                   if human else None)
    return out
