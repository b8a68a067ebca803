"""What every stage of the benchmark reads: data, splits, file helpers, timing."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from components.contracts import ITEM_FIELDS
from components.data import load_items, load_judgments, split_queries
from components.data.esci import Item, Judgment
from components.data.folds import query_folds
from components.data.splits import QuerySplit

FIELDS = ITEM_FIELDS


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def write_json(path: Path, data) -> None:
    """Write JSON atomically (a cut-off run never leaves half a file behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def read_json(path: Path):
    return json.loads(Path(path).read_text())


@dataclass
class Data:
    items: dict[str, Item]
    judgments: list[Judgment]

    @classmethod
    def load(cls, max_queries: int | None = None) -> Data:
        items, judgments = load_items(), load_judgments()
        if max_queries:  # smoke runs: the first N queries by id, and their items only
            keep = set(sorted({j.query_id for j in judgments})[:max_queries])
            judgments = [j for j in judgments if j.query_id in keep]
            items = {j.item_id: items[j.item_id] for j in judgments}
        return cls(items, judgments)

    @cached_property
    def query_text(self) -> dict[str, str]:
        return {j.query_id: j.query for j in self.judgments}

    @cached_property
    def by_query(self) -> dict[str, list[Judgment]]:
        out: dict[str, list[Judgment]] = defaultdict(list)
        for j in self.judgments:
            out[j.query_id].append(j)
        return out

    def judgments_of(self, query_ids: Iterable[str]) -> list[Judgment]:
        return [j for q in sorted(set(query_ids)) for j in self.by_query.get(q, [])]


def make_splits(query_ids: Iterable[str], n_folds: int, seed: int,
                seed13: bool) -> dict[str, QuerySplit]:
    """``fold0..fold{n-1}`` (each query tested once) and, optionally, the fixed ``seed13`` split."""
    ids = sorted(set(query_ids))
    splits = {f"fold{i}": s for i, s in enumerate(query_folds(ids, n_folds=n_folds, seed=seed))}
    if seed13:
        splits["seed13"] = split_queries(ids)
    return splits


def load_splits(work: Path) -> dict[str, QuerySplit]:
    return {name: QuerySplit.from_dict(d)
            for name, d in read_json(work / "prepare" / "splits.json").items()}


def lora_labels_path(work: Path, split_name: str) -> Path:
    """Where a split's LoRA judge writes its teacher labels (stage ``lora``)."""
    return work / "lora" / f"{split_name}_labels.jsonl"


def per_query_metrics(scores: Mapping[str, Mapping[str, float]],
                      judgments: list[Judgment]) -> dict[str, dict[str, float]]:
    """Per-query nDCG@10 / recall@10 / precision@10 / MRR of items ranked by ``scores``."""
    from components.metrics.ranking import evaluate_query_rankings

    return evaluate_query_rankings(scores, judgments, k=10)["per_query"]


def score_judged(scorer, data: Data, query_ids: Iterable[str]) -> dict[str, dict[str, float]]:
    """Per-query metrics of a ``score_pairs(keyphrases, item_texts)`` scorer."""
    js = data.judgments_of(query_ids)
    scores = scorer.score_pairs([j.query for j in js],
                                [data.items[j.item_id].text(FIELDS) for j in js])
    by_query: dict[str, dict[str, float]] = defaultdict(dict)
    for j, s in zip(js, scores, strict=True):
        by_query[j.query_id][j.item_id] = float(s)
    return per_query_metrics(by_query, js)
