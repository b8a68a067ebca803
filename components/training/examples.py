"""Training examples of each task, built from the click log, the teacher labels and the pool.

Only keyphrases that are not held out reach training: ESCI queries of the train split and
extra (WANDS) keyphrases whose text is not a validation or test query.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from components.clicks.simulator import ClickLog
from components.contracts import ITEM_FIELDS
from components.data.esci import Item
from components.data.keyphrases import normalize_keyphrase
from components.data.splits import QuerySplit
from components.judge.labels import TeacherLabel


@dataclass(frozen=True)
class PairExample:
    """A (keyphrase, item) pair; ``label`` is the judge's P(relevant) for the judge task."""

    keyphrase: str
    item_text: str
    label: float | None = None


@dataclass(frozen=True)
class ListExample:
    """A keyphrase with a list of pool items and the cross-encoder's score of each."""

    keyphrase: str
    item_texts: tuple[str, ...]
    teacher_scores: tuple[float, ...]


class HeldOut:
    """Decides whether a keyphrase may be trained on (never a validation or test query)."""

    def __init__(self, split: QuerySplit, query_texts: Mapping[str, str]):
        self.train_ids = set(split.queries("train"))
        held = set(split.queries("validation")) | set(split.queries("test"))
        self.held_ids = held
        self.held_texts = {normalize_keyphrase(query_texts[q]) for q in held if q in query_texts}

    def allows(self, keyphrase: str, query_id: str | None) -> bool:
        if query_id is not None:
            return query_id in self.train_ids
        return normalize_keyphrase(keyphrase) not in self.held_texts


def clicked_pairs(log: ClickLog, items: Mapping[str, Item], held_out: HeldOut,
                  item_fields: Sequence[str] = ITEM_FIELDS) -> list[PairExample]:
    """Distinct clicked (keyphrase, item) pairs of train-split keyphrases."""
    seen, out = set(), []
    for r in log.records:
        if r.clicks > 0 and held_out.allows(r.keyphrase, r.query_id) and \
                (r.keyphrase, r.item_id) not in seen:
            seen.add((r.keyphrase, r.item_id))
            out.append(PairExample(r.keyphrase, items[r.item_id].text(item_fields)))
    return out


def search_relevance_pairs(log: ClickLog, items: Mapping[str, Item], held_out: HeldOut,
                           item_fields: Sequence[str] = ITEM_FIELDS) -> list[PairExample]:
    """The Search filter's decisions on train-split keyphrases: shown pairs (passed, label 1)
    and filtered pairs (dropped, label 0), one example per distinct pair.

    This is the "SR" (Search Relevance) task of LLMDistill4Ads: the only signal the logs hold
    about the pairs the middleman filter rejects.
    """
    keyphrase_of = {r.query_id: r.keyphrase for r in log.records}
    seen, out = set(), []
    for r in log.records:
        if held_out.allows(r.keyphrase, r.query_id) and (r.keyphrase, r.item_id) not in seen:
            seen.add((r.keyphrase, r.item_id))
            out.append(PairExample(r.keyphrase, items[r.item_id].text(item_fields), 1.0))
    for query_id, item_id in log.filtered:
        keyphrase = keyphrase_of.get(query_id)
        if keyphrase is None or not held_out.allows(keyphrase, query_id) or \
                (keyphrase, item_id) in seen:
            continue  # a query whose every pair was filtered has no text in the log
        seen.add((keyphrase, item_id))
        out.append(PairExample(keyphrase, items[item_id].text(item_fields), 0.0))
    return out


def trainable_labels(labels: Iterable[TeacherLabel], held_out: HeldOut,
                     budget: int | None = None, seed: int = 0) -> list[TeacherLabel]:
    """Readable teacher labels on trainable keyphrases, capped at ``budget`` (random subset)."""
    kept = [lab for lab in labels if lab.status == "ok" and lab.p_relevant is not None
            and held_out.allows(lab.keyphrase, lab.query_id)]
    if budget is not None and len(kept) > budget:
        kept = random.Random(seed).sample(kept, budget)
    return kept


def judge_pairs(labels: Iterable[TeacherLabel], items: Mapping[str, Item],
                item_fields: Sequence[str] = ITEM_FIELDS) -> list[PairExample]:
    return [PairExample(lab.keyphrase, items[lab.item_id].text(item_fields),
                        float(lab.p_relevant)) for lab in labels]


def distillation_lists(scored: Iterable[tuple[str, str, float]], items: Mapping[str, Item],
                       list_size: int, seed: int = 0,
                       item_fields: Sequence[str] = ITEM_FIELDS) -> list[ListExample]:
    """Group (keyphrase, item_id, teacher score) by keyphrase and cut into lists of ``list_size``.

    A keyphrase's items are shuffled first, so each list mixes retrieved, clicked and random
    items; a remainder shorter than ``list_size`` is dropped.
    """
    if list_size < 2:
        raise ValueError("distillation lists need list_size >= 2")
    return _keyphrase_lists(((k, i, float(s)) for k, i, s in scored), items, list_size, seed,
                            item_fields)


def _keyphrase_lists(scored: Iterable[tuple[str, str, object]], items: Mapping[str, Item],
                     list_size: int, seed: int, item_fields: Sequence[str]) -> list[ListExample]:
    """(keyphrase, item_id, teacher value) grouped by keyphrase, each group shuffled (seeded)
    and cut into lists of ``list_size``; a remainder is dropped."""
    by_keyphrase: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for keyphrase, item_id, value in scored:
        by_keyphrase[keyphrase].append((item_id, value))
    rng = random.Random(seed)
    out = []
    for keyphrase in sorted(by_keyphrase):
        entries = by_keyphrase[keyphrase]
        rng.shuffle(entries)
        for start in range(0, len(entries) - list_size + 1, list_size):
            chunk = entries[start:start + list_size]
            out.append(ListExample(keyphrase, tuple(items[i].text(item_fields) for i, _ in chunk),
                                   tuple(v for _, v in chunk)))
    return out


def query_lists(labels: Iterable[TeacherLabel], items: Mapping[str, Item], list_size: int,
                per_query: int, seed: int = 0,
                item_fields: Sequence[str] = ITEM_FIELDS) -> list[ListExample]:
    """``per_query`` random lists of ``list_size`` of each buyer query's labelled items.

    Only labels that carry a query id (the click log's queries: their shown, clicked,
    filtered and judged products) are used: these lists hold the within-query order that
    nDCG@10 measures. A query with fewer than ``list_size`` labelled items gives no list;
    an item appears at most once in a list. Deterministic for a given ``seed``.
    """
    if list_size < 2 or per_query < 1:
        raise ValueError("query lists need list_size >= 2 and per_query >= 1")
    by_query: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
    for lab in labels:
        if lab.query_id is not None and lab.p_relevant is not None:
            by_query[lab.query_id][lab.item_id] = (lab.keyphrase, float(lab.p_relevant))
    rng = random.Random(seed)
    out = []
    for query_id in sorted(by_query):
        entries = sorted(by_query[query_id].items())
        if len(entries) < list_size:
            continue
        keyphrase = entries[0][1][0]
        for _ in range(per_query):
            chunk = rng.sample(entries, list_size)
            out.append(ListExample(keyphrase,
                                   tuple(items[i].text(item_fields) for i, _ in chunk),
                                   tuple(score for _, (_, score) in chunk)))
    return out


def dimension_vector(dimensions: Mapping[str, Mapping[str, float]] | None,
                     names: Sequence[str]) -> tuple[float, ...] | None:
    """Per dimension the match probability ``P(yes) / (P(yes) + P(no))``, then its weight
    ``1 - P(na)`` (0 where the label has no answer for it); None without any answer."""
    if not dimensions:
        return None
    match, weight = [], []
    for name in names:
        answer = dimensions.get(name)
        if not answer:
            match.append(0.5)
            weight.append(0.0)
            continue
        yes, no = float(answer.get("yes", 0.0)), float(answer.get("no", 0.0))
        match.append(yes / (yes + no) if yes + no > 0 else 0.5)
        weight.append(max(0.0, 1.0 - float(answer.get("na", 0.0))))
    return tuple(match + weight) if any(weight) else None


def dimension_lists(labels: Iterable[TeacherLabel], items: Mapping[str, Item], list_size: int,
                    names: Sequence[str], seed: int = 0,
                    item_fields: Sequence[str] = ITEM_FIELDS) -> list[ListExample]:
    """Lists of one keyphrase's items that carry the judge's dimension answers, for the
    student's ``dimensions`` task: ``teacher_scores`` holds one ``dimension_vector`` per item
    (match probabilities, then weights). Items without answers are left out; a remainder
    shorter than ``list_size`` is dropped."""
    if list_size < 2:
        raise ValueError("dimension lists need list_size >= 2")
    vectors = ((lab.keyphrase, lab.item_id, dimension_vector(lab.dimensions, names))
               for lab in labels)
    return _keyphrase_lists(((k, i, v) for k, i, v in vectors if v is not None), items,
                            list_size, seed, item_fields)
