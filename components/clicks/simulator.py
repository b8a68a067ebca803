"""A click-log simulator with the biases of real ad click data (docs/METHOD.md).

For each keyphrase (an ESCI query) and its judged products:
1. **Middleman bias.** A stand-in Search relevance filter drops each pair with a probability
   set per human grade (``filter_drop``). Dropped pairs are never shown: they have no
   impressions, so a model trained on clicks never sees them. They are kept in
   ``ClickLog.filtered`` as simulation truth (the judge's candidate step uses them).
2. **Current search.** BM25 over the items' text ranks the remaining products; the top
   ``results_per_query`` are shown, at positions 1, 2, ...
3. **Exposure.** The keyphrase's result page gets ``sessions`` impressions, lognormal around
   ``sessions_median`` (popular and rare keyphrases); every shown product gets that many.
4. **Clicks.** P(click) = P(examined | position) × P(click | examined), with examination
   ``(1/position) ** position_eta`` (position bias) and attractiveness
   ``sigmoid(base + grade_logit[grade] + popularity_weight * z(log1p(rating_count)) + noise)``
   (relevance, popularity bias, noise). Clicks ~ Binomial(impressions, P(click)).

Absent clicks therefore mean little (missing-not-at-random), top and popular products
collect clicks, and irrelevant-but-filtered pairs are invisible — the biases the judge and
cross-encoder are there to correct. Deterministic given ``seed``, whatever the input order.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydantic.dataclasses import dataclass as pydantic_dataclass

from components.baselines.rankers import BM25Ranker
from components.config import STEP_CONFIG, load_yaml
from components.contracts import (
    CLICKS_FILE,
    FILTERED_FILE,
    ITEM_FIELDS,
    read_jsonl,
    write_jsonl_atomic,
)
from components.data.esci import GRADES, Item, Judgment

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")


@pydantic_dataclass(frozen=True, config=STEP_CONFIG)
class ClickConfig:
    seed: int = 7
    results_per_query: int = 20
    item_fields: tuple[str, ...] = ITEM_FIELDS
    sessions_median: float = 400.0
    sessions_sigma: float = 1.0
    position_eta: float = 1.0
    attractiveness_base: float = -1.0
    grade_logit: Mapping[str, float] = field(
        default_factory=lambda: {"E": 1.5, "S": 0.5, "C": -1.0, "I": -2.0})
    popularity_weight: float = 0.6
    noise_sigma: float = 0.5
    filter_drop: Mapping[str, float] = field(
        default_factory=lambda: {"E": 0.02, "S": 0.10, "C": 0.50, "I": 0.75})

    def __post_init__(self):
        for name in ("grade_logit", "filter_drop"):
            table = getattr(self, name)
            if set(table) != set(GRADES):
                raise ValueError(f"{name} must give a value for each grade {GRADES}, got "
                                 f"{sorted(table)}")
        if any(not 0 <= p <= 1 for p in self.filter_drop.values()):
            raise ValueError("filter_drop probabilities must lie in [0, 1]")
        if self.results_per_query < 1 or self.sessions_median <= 0:
            raise ValueError("results_per_query and sessions_median must be positive")

    @classmethod
    def from_yaml(cls, path: Path | str = DEFAULT_CONFIG, **overrides) -> ClickConfig:
        return load_yaml(cls, path, **overrides)


@dataclass(frozen=True)
class ClickRecord:
    """One shown (keyphrase, item) pair of the log, aggregated over its impressions."""

    query_id: str
    keyphrase: str
    item_id: str
    position: int
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


@dataclass
class ClickLog:
    records: list[ClickRecord]
    filtered: list[tuple[str, str]]  # (query_id, item_id) pairs the Search filter dropped
    config: ClickConfig | None = None

    def save(self, directory: Path | str) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_jsonl_atomic(directory / CLICKS_FILE, (asdict(r) for r in self.records))
        write_jsonl_atomic(directory / FILTERED_FILE,
                           ({"query_id": q, "item_id": i} for q, i in self.filtered))
        if self.config is not None:
            cfg = asdict(self.config)
            cfg["item_fields"] = list(cfg["item_fields"])
            (directory / "config.json").write_text(json.dumps(cfg, indent=2))

    @classmethod
    def load(cls, directory: Path | str) -> ClickLog:
        directory = Path(directory)
        records = read_jsonl(directory / CLICKS_FILE, lambda row: ClickRecord(**row))
        filtered = read_jsonl(directory / FILTERED_FILE,
                              lambda row: (row["query_id"], row["item_id"]))
        return cls(records=records, filtered=filtered)

    def summary(self) -> dict:
        imps = sum(r.impressions for r in self.records)
        clicks = sum(r.clicks for r in self.records)
        return {"shown_pairs": len(self.records), "filtered_pairs": len(self.filtered),
                "clicked_pairs": sum(r.clicks > 0 for r in self.records),
                "impressions": imps, "clicks": clicks, "ctr": clicks / imps if imps else 0.0}


def _rng(seed: int, *key: str) -> np.random.Generator:
    digest = hashlib.sha256("\0".join((str(seed), *key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _popularity_z(items: Mapping[str, Item]) -> dict[str, float]:
    logs = {i: np.log1p(max(it.rating_count, 0)) for i, it in items.items()}
    values = np.array(list(logs.values()))
    mu, sd = values.mean(), values.std() or 1.0
    return {i: (v - mu) / sd for i, v in logs.items()}


def simulate_clicks(items: Mapping[str, Item], judgments: Sequence[Judgment],
                    config: ClickConfig | None = None) -> ClickLog:
    config = config or ClickConfig()
    by_query: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_query[j.query_id].append(j)
    texts = {i: it.text(config.item_fields) for i, it in items.items()}
    search = BM25Ranker(list(texts.values()))
    pop = _popularity_z(items)
    records, filtered = [], []
    for qid in sorted(by_query):
        js = sorted(by_query[qid], key=lambda j: j.item_id)
        rng = _rng(config.seed, qid)
        keep = []
        for j in js:
            if rng.random() < config.filter_drop[j.grade]:
                filtered.append((qid, j.item_id))
            else:
                keep.append(j)
        if not keep:
            continue
        keyphrase = keep[0].query
        bm25 = search.score_pairs([keyphrase] * len(keep), [texts[j.item_id] for j in keep])
        order = sorted(range(len(keep)), key=lambda i: (-bm25[i], keep[i].item_id))
        sessions = max(1, int(round(config.sessions_median
                                    * np.exp(config.sessions_sigma * rng.standard_normal()))))
        for pos, idx in enumerate(order[: config.results_per_query], start=1):
            j = keep[idx]
            examined = (1.0 / pos) ** config.position_eta
            logit = (config.attractiveness_base + config.grade_logit[j.grade]
                     + config.popularity_weight * pop[j.item_id]
                     + config.noise_sigma * rng.standard_normal())
            p_click = examined / (1.0 + np.exp(-logit))
            clicks = int(rng.binomial(sessions, p_click))
            records.append(ClickRecord(qid, keyphrase, j.item_id, pos, sessions, clicks))
    return ClickLog(records=records, filtered=sorted(filtered), config=config)
