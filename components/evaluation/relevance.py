"""Do the recommendations make sense? Top-k keyphrases per item, rated by a pair scorer.

Human labels cover only the pairs ESCI judged, so most of what a student recommends from a
universe of thousands of keyphrases carries no human grade. :func:`rated_recommendations`
asks a pair scorer (the assistant cross-encoder, or the LLM judge) about every recommended
pair instead; :func:`relevance_rate` is the share of the top-k it rates relevant
(P(relevant) ≥ ``threshold``). Human grades are attached where they exist.

A rater's P(relevant) is not calibrated (the small judges answer within 0.2-0.6 for every
pair), so a fixed cut at 0.5 says nothing. :func:`separating_threshold` picks each rater's cut
on human-labelled pairs that are *not* the measured ones (ESCI pairs of the train split): the
cut that best separates E∪S from C∪I by balanced accuracy (Youden's J = TPR − FPR), which,
unlike plain accuracy or kappa, does not depend on the labelled pairs' class mix (ESCI's train
pairs are 78% E∪S; the recommendations' mix is what is being measured).
:func:`estimated_relevant_share` then corrects the rate for the rater's known errors at that
cut (Rogan–Gladen: (rate − FPR) / (TPR − FPR)), assuming its TPR and FPR carry over.

Example::

    student = EncoderRanker(student_dir, "student")
    recs = recommend(student, items, universe, k=8)
    rated = rated_recommendations(recs, CrossEncoderScorer.load(assistant_dir), items, grades)
    cut = separating_threshold(p_train, relevant_train)   # human-labelled train pairs
    relevance_rate(rated, cut)                 # {"rate": 0.41, "pairs": 800, "items": 100, ...}
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


@dataclass(frozen=True)
class RaterThreshold:
    """A rater's cut on P(relevant), chosen on human-labelled pairs, and its errors there."""

    threshold: float
    tpr: float            # share of the E∪S pairs rated ≥ threshold
    fpr: float            # share of the C∪I pairs rated ≥ threshold
    auc: float | None     # E∪S vs C∪I
    pairs: int
    relevant_pairs: int
    chosen_on: str = ""   # where the pairs came from

    @property
    def youden_j(self) -> float:
        return self.tpr - self.fpr

    def to_dict(self) -> dict:
        return {**asdict(self), "youden_j": self.youden_j}


def separating_threshold(p: Sequence[float], relevant: Sequence[bool],
                         chosen_on: str = "") -> RaterThreshold:
    """The cut on ``p`` (P(relevant) ≥ cut) with the highest balanced accuracy (Youden's J)
    against human relevance ``relevant`` (E∪S true, C∪I false). Both classes must occur."""
    from sklearn.metrics import roc_auc_score, roc_curve

    p, y = np.asarray(p, dtype=float), np.asarray(relevant, dtype=bool)
    if p.shape != y.shape or not 0 < y.sum() < len(y):
        raise ValueError(f"need one P per pair and both classes: {len(p)} P, {len(y)} labels, "
                         f"{int(y.sum())} relevant")
    fpr, tpr, cuts = roc_curve(y, p)
    finite = np.isfinite(cuts)  # roc_curve's first cut is +inf (nothing relevant)
    best = int(np.flatnonzero(finite)[np.argmax((tpr - fpr)[finite])])
    return RaterThreshold(float(cuts[best]), float(tpr[best]), float(fpr[best]),
                          float(roc_auc_score(y, p)), len(y), int(y.sum()), chosen_on)


def estimated_relevant_share(rate: float, cut: RaterThreshold) -> float | None:
    """The share a human would call relevant, from a rater's ``rate`` at ``cut`` and its
    TPR/FPR there (Rogan–Gladen), clipped to [0, 1]; None where the cut does not separate."""
    if cut.youden_j <= 0:
        return None
    return float(np.clip((rate - cut.fpr) / cut.youden_j, 0.0, 1.0))


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval of a share ``hits / n``."""
    if n <= 0:
        return None
    share = hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def relevance_rate(recs: Sequence[Recommendation],
                   threshold: float | RaterThreshold = 0.5) -> dict:
    """Share of rated recommendations with P(relevant) ≥ threshold, overall and per source;
    with a :class:`RaterThreshold`, also the cut's provenance and the corrected share."""
    cut = threshold if isinstance(threshold, RaterThreshold) else None
    threshold = cut.threshold if cut else float(threshold)
    rated = [r for r in recs if r.rater_p is not None]
    hits = sum(r.rater_p >= threshold for r in rated)
    out = {"rate": hits / len(rated) if rated else None,
           "rate_interval": wilson_interval(hits, len(rated)),
           "mean_p": float(np.mean([r.rater_p for r in rated])) if rated else None,
           "threshold": threshold, "pairs": len(rated),
           "items": len({r.item_id for r in rated}), "by_source": {}}
    if cut is not None:
        out["calibration"] = cut.to_dict()
        out["estimated_relevant_share"] = (estimated_relevant_share(out["rate"], cut)
                                           if rated else None)
    for source in sorted({r.source for r in rated}):
        part = [r for r in rated if r.source == source]
        out["by_source"][source] = {"pairs": len(part),
                                    "rate": float(np.mean([r.rater_p >= threshold
                                                           for r in part]))}
    human = [r for r in recs if r.human_grade]
    out["human_graded_pairs"] = len(human)
    out["human_relevant_share"] = (float(np.mean([r.human_grade in ("E", "S") for r in human]))
                                   if human else None)
    graded = [r for r in human if r.rater_p is not None]
    out["rate_on_human_graded"] = (float(np.mean([r.rater_p >= threshold for r in graded]))
                                   if graded else None)
    return out
