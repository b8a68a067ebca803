"""Deterministic split of queries (keyphrases) into train / validation / test.

Queries are the unit: no query appears in two splits. Items can appear under queries of
different splits (the same product judged for two queries); ``overlap_report`` counts them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from components.data.esci import Judgment

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 13
    validation_fraction: float = 0.2
    test_fraction: float = 0.2

    def __post_init__(self):
        if not (0 < self.validation_fraction < 1 and 0 < self.test_fraction < 1):
            raise ValueError("validation_fraction and test_fraction must lie in (0, 1)")
        if self.validation_fraction + self.test_fraction >= 1:
            raise ValueError("validation_fraction + test_fraction must be < 1")


@dataclass
class QuerySplit:
    """Which split each query id belongs to."""

    assignment: dict[str, str]
    config: SplitConfig = field(default_factory=SplitConfig)

    def queries(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return sorted(q for q, s in self.assignment.items() if s == split)

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "assignment": dict(sorted(self.assignment.items()))}

    @classmethod
    def from_dict(cls, data: dict) -> QuerySplit:
        return cls(assignment=dict(data["assignment"]), config=SplitConfig(**data["config"]))


def _rank_key(seed: int, query_id: str) -> str:
    # A hash of (seed, id) orders queries independently of input order and Python's hash seed.
    return hashlib.sha256(f"{seed}:{query_id}".encode()).hexdigest()


def split_queries(query_ids: Iterable[str], config: SplitConfig | None = None) -> QuerySplit:
    config = config or SplitConfig()
    ordered = sorted(set(query_ids), key=lambda q: _rank_key(config.seed, q))
    n = len(ordered)
    n_test = round(n * config.test_fraction)
    n_val = round(n * config.validation_fraction)
    assignment = {}
    for i, qid in enumerate(ordered):
        assignment[qid] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return QuerySplit(assignment=assignment, config=config)


def overlap_report(split: QuerySplit, judgments: list[Judgment]) -> dict:
    """Counts of queries, judgments and items per split, and items seen in more than one split."""
    items_by_split: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for j in judgments:
        s = split.assignment.get(j.query_id)
        if s is None:
            continue
        items_by_split[s].add(j.item_id)
        counts[s] += 1
    splits_of_item: dict[str, set[str]] = defaultdict(set)
    for s, items in items_by_split.items():
        for item in items:
            splits_of_item[item].add(s)
    shared = {item for item, ss in splits_of_item.items() if len(ss) > 1}
    return {
        "queries": {s: len(split.queries(s)) for s in SPLITS},
        "judgments": {s: counts[s] for s in SPLITS},
        "items": {s: len(items_by_split[s]) for s in SPLITS},
        "items_in_two_or_more_splits": len(shared),
        "test_items_also_in_train": len(items_by_split["test"] & items_by_split["train"]),
    }
