"""The pool the cross-encoder scores: many more (keyphrase, item) pairs than the judge labels.

Sources per trainable keyphrase: its clicked and shown items and the pairs Search filtered
out (click log), the items nearest to it under the zero-shot student ("retrieved"), and
uniformly drawn items ("random"). Scores are written as JSONL rows
``{"item_id", "keyphrase", "query_id", "source", "score"}`` (score = P(relevant)).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from components.clicks.simulator import ClickLog
from components.contracts import ITEM_FIELDS, read_jsonl, write_jsonl_atomic
from components.data.esci import Item
from components.training.config import PoolConfig
from components.training.examples import HeldOut

SOURCE_ORDER = ("clicked", "shown", "filtered", "retrieved", "random")


@dataclass(frozen=True)
class PoolPair:
    item_id: str
    keyphrase: str
    query_id: str | None
    source: str


@dataclass(frozen=True)
class PoolScore:
    item_id: str
    keyphrase: str
    query_id: str | None
    source: str
    score: float


def trainable_keyphrases(log: ClickLog, extra: Iterable[str], held_out: HeldOut,
                         config: PoolConfig) -> list[tuple[str, str | None]]:
    """(text, ESCI query id or None) of every keyphrase the pool covers, train split only."""
    out: dict[str, str | None] = {}
    for r in log.records:
        if held_out.allows(r.keyphrase, r.query_id):
            out.setdefault(r.keyphrase, r.query_id)
    if config.use_wands:
        for text in extra:
            if text not in out and held_out.allows(text, None):
                out[text] = None
    keyphrases = sorted(out.items(), key=lambda kv: (kv[1] is None, kv[0]))
    if config.max_keyphrases is not None:
        keyphrases = keyphrases[: config.max_keyphrases]
    return keyphrases


def build_pool(log: ClickLog, items: Mapping[str, Item],
               keyphrases: Sequence[tuple[str, str | None]],
               encode: Callable[[list[str]], np.ndarray], config: PoolConfig,
               item_fields: Sequence[str] = ITEM_FIELDS) -> list[PoolPair]:
    """Distinct pairs, each with the first source (in ``SOURCE_ORDER``) that produced it."""
    rng = random.Random(config.seed)
    wanted = {k for k, _ in keyphrases}
    qid_of = dict(keyphrases)
    text_of_query = {r.query_id: r.keyphrase for r in log.records}
    pairs: dict[tuple[str, str], str] = {}

    def add(keyphrase: str, item_id: str, source: str) -> None:
        pairs.setdefault((keyphrase, item_id), source)

    for r in log.records:
        if r.keyphrase in wanted:
            add(r.keyphrase, r.item_id, "clicked" if r.clicks > 0 else "shown")
    for query_id, item_id in log.filtered:
        keyphrase = text_of_query.get(query_id)
        if keyphrase in wanted:
            add(keyphrase, item_id, "filtered")
    item_ids = sorted(items)
    if config.retrieved_per_keyphrase > 0:
        searched = item_ids
        if config.retrieval_max_items is not None and len(item_ids) > config.retrieval_max_items:
            searched = sorted(random.Random(config.seed).sample(item_ids,
                                                                config.retrieval_max_items))
        item_vecs = encode([items[i].text(item_fields) for i in searched])
        kp_vecs = encode([k for k, _ in keyphrases])
        k = min(config.retrieved_per_keyphrase, len(searched))
        sims = kp_vecs @ item_vecs.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for (keyphrase, _), row in zip(keyphrases, top, strict=True):
            for col in row:
                add(keyphrase, searched[col], "retrieved")
    for keyphrase, _ in keyphrases:
        for item_id in rng.sample(item_ids, min(config.random_per_keyphrase, len(item_ids))):
            add(keyphrase, item_id, "random")
    return [PoolPair(item_id, keyphrase, qid_of.get(keyphrase), source)
            for (keyphrase, item_id), source in sorted(pairs.items())]


def pool_summary(pool: Sequence[PoolPair]) -> dict:
    counts = {s: 0 for s in SOURCE_ORDER}
    for p in pool:
        counts[p.source] += 1
    return {"pairs": len(pool), "keyphrases": len({p.keyphrase for p in pool}),
            "items": len({p.item_id for p in pool}), "by_source": counts}


def save_pool_scores(path: Path | str, scores: Iterable[PoolScore]) -> int:
    """Write scores as JSONL, atomically. Returns the count."""
    return write_jsonl_atomic(path, (asdict(s) for s in scores))


def load_pool_scores(path: Path | str) -> list[PoolScore]:
    """Read scores; a malformed row or a score outside [0, 1] raises ValueError (file:line)."""
    return read_jsonl(path, _pool_score)


def _pool_score(row: dict) -> PoolScore:
    score = PoolScore(**row)
    if not 0.0 <= score.score <= 1.0:
        raise ValueError(f"score {score.score} is not in [0, 1]")
    return score
