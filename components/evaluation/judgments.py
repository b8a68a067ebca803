"""External judgments: your own queries, items and graded labels, to evaluate a model on.

The format (docs/JUDGMENTS.md has the full description and an example) is one JSON file::

    {
      "name": "garden tools sample",                        # optional
      "gains": {"perfect": 1.0, "good": 0.3, "bad": 0.0},   # grade -> gain (default: ESCI E/S/C/I)
      "relevant": ["perfect", "good"],                      # grades counted by recall/precision/MRR
      "irrelevant": ["bad"],                                # grades counted by irrelevant_rate@10
      "item_fields": ["title", "brand", "category"],        # optional, the text the models read
      "items": [{"item_id": "p1", "title": "...", "brand": "...", "category": "..."}],
      "queries": [{"query_id": "q1", "text": "pruning shears"}],
      "judgments": [{"query_id": "q1", "item_id": "p1", "grade": "perfect"}]
    }

Grades may be strings or numbers (numbers are read as their string form, so ``"gains":
{"2": 1.0, "1": 0.5, "0": 0}`` matches grades 2, 1, 0). Without ``gains`` the grades must be
ESCI's (E, S, C, I) and ESCI's gains apply. ``relevant`` must be given with ``gains``;
``irrelevant`` defaults to the grades of gain 0. Every problem raises :class:`JudgmentsError`
naming the record and how to fix it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from components.data.esci import ESCI_GAINS, RELEVANT_GRADES, Item, Judgment
from components.data.keyphrases import Keyphrase, normalize_keyphrase

DEFAULT_ITEM_FIELDS = ("title", "brand", "category")
_ITEM_FIELDS = {f.name for f in fields(Item)}


class JudgmentsError(ValueError):
    def __init__(self, path: Path | str, message: str):
        super().__init__(f"{path}: {message} (format: docs/JUDGMENTS.md)")


@dataclass
class JudgmentSet:
    name: str
    items: dict[str, Item]
    judgments: list[Judgment]
    gains: dict[str, float]
    relevant: frozenset[str]
    irrelevant: frozenset[str]
    item_fields: tuple[str, ...] = DEFAULT_ITEM_FIELDS

    @property
    def universe(self) -> list[Keyphrase]:
        """The judged queries as the keyphrase universe of the item-side metric."""
        texts = {j.query_id: j.query for j in self.judgments}
        return [Keyphrase(f"judged:{qid}", text, normalize_keyphrase(text), "judged")
                for qid, text in sorted(texts.items())]

    def summary(self) -> dict:
        return {"name": self.name, "items": len(self.items), "judgments": len(self.judgments),
                "queries": len({j.query_id for j in self.judgments}),
                "grades": {g: sum(j.grade == g for j in self.judgments) for g in self.gains}}


def _records(data: dict, key: str, path) -> list[dict]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise JudgmentsError(path, f"'{key}' must be a non-empty list of objects")
    for n, record in enumerate(value):
        if not isinstance(record, dict):
            raise JudgmentsError(path, f"{key}[{n}] must be an object, got {type(record).__name__}")
    return value


def _grade_set(data: dict, key: str, gains: dict, path) -> frozenset[str] | None:
    if key not in data:
        return None
    value = [str(g) for g in data[key]]
    unknown = sorted(set(value) - set(gains))
    if unknown:
        raise JudgmentsError(path, f"'{key}' names grades {unknown} that 'gains' does not map")
    return frozenset(value)


def _gains(data: dict, path) -> tuple[dict[str, float], frozenset[str], frozenset[str]]:
    if "gains" not in data:
        if "relevant" in data or "irrelevant" in data:
            raise JudgmentsError(path, "'relevant'/'irrelevant' need a 'gains' mapping")
        return dict(ESCI_GAINS), RELEVANT_GRADES, frozenset({"I"})
    raw = data["gains"]
    if not isinstance(raw, dict) or not raw:
        raise JudgmentsError(path, "'gains' must map each grade to a number, e.g. "
                                   '{"E": 1.0, "S": 0.1, "C": 0.01, "I": 0}')
    try:
        gains = {str(g): float(v) for g, v in raw.items()}
    except (TypeError, ValueError):
        raise JudgmentsError(path, f"'gains' values must be numbers, got {raw}") from None
    if max(gains.values()) <= 0:
        raise JudgmentsError(path, "'gains' needs at least one grade with a positive gain")
    relevant = _grade_set(data, "relevant", gains, path)
    if relevant is None:
        raise JudgmentsError(path, "with 'gains' give 'relevant': the grades that recall, "
                                   "precision and MRR count as relevant")
    irrelevant = _grade_set(data, "irrelevant", gains, path)
    if irrelevant is None:
        irrelevant = frozenset(g for g, v in gains.items() if v == 0)
    return gains, relevant, irrelevant


def _items(data: dict, path) -> dict[str, Item]:
    items = {}
    for n, record in enumerate(_records(data, "items", path)):
        record = dict(record)
        item_id = str(record.pop("item_id", record.pop("product_id", "")) or "")
        if not item_id or not str(record.get("title", "")).strip():
            raise JudgmentsError(path, f"items[{n}] needs 'item_id' and a non-empty 'title'")
        unknown = sorted(set(record) - _ITEM_FIELDS)
        if unknown:
            raise JudgmentsError(path, f"items[{n}] has unknown fields {unknown}; known: "
                                       f"{sorted(_ITEM_FIELDS - {'item_id'})}")
        if item_id in items:
            raise JudgmentsError(path, f"items[{n}]: item_id {item_id!r} appears twice")
        items[item_id] = Item(item_id=item_id, **record)
    return items


def load_judgment_set(path: Path | str) -> JudgmentSet:
    """Read and check a judgments file (the format above)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JudgmentsError(path, "file not found") from None
    except json.JSONDecodeError as exc:
        raise JudgmentsError(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise JudgmentsError(path, "the file must hold one JSON object")
    gains, relevant, irrelevant = _gains(data, path)
    items = _items(data, path)
    queries = {}
    for n, record in enumerate(_records(data, "queries", path)):
        qid, text = str(record.get("query_id", "")), str(record.get("text", "")).strip()
        if not qid or not text:
            raise JudgmentsError(path, f"queries[{n}] needs 'query_id' and a non-empty 'text'")
        queries[qid] = text
    judgments, seen = [], set()
    for n, record in enumerate(_records(data, "judgments", path)):
        qid, item_id = str(record.get("query_id", "")), str(record.get("item_id", ""))
        grade = str(record.get("grade", ""))
        if qid not in queries:
            raise JudgmentsError(path, f"judgments[{n}]: query_id {qid!r} is not in 'queries'")
        if item_id not in items:
            raise JudgmentsError(path, f"judgments[{n}]: item_id {item_id!r} is not in 'items'")
        if grade not in gains:
            raise JudgmentsError(path, f"judgments[{n}]: grade {grade!r} is not one of "
                                       f"{sorted(gains)} (add it to 'gains')")
        if (qid, item_id) in seen:
            raise JudgmentsError(path, f"judgments[{n}]: ({qid}, {item_id}) is judged twice")
        seen.add((qid, item_id))
        judgments.append(Judgment(qid, queries[qid], item_id, grade))
    item_fields = tuple(data.get("item_fields") or DEFAULT_ITEM_FIELDS)
    bad = sorted(set(item_fields) - _ITEM_FIELDS)
    if bad:
        raise JudgmentsError(path, f"item_fields {bad} are not item fields")
    return JudgmentSet(str(data.get("name") or path.stem), items, judgments, gains, relevant,
                       irrelevant, item_fields)
