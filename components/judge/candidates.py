"""What the judge labels: candidate (item, keyphrase) pairs from several sources, on a budget.

Training candidates use train-split keyphrases only (no validation/test query is ever
judged for training). Sources:

- ``clicked``: shown pairs of the click log with at least one click;
- ``shown``: shown but never clicked (no click does not mean irrelevant);
- ``filtered``: pairs the simulated Search filter dropped (never shown: the middleman gap);
- ``retrieved``: the zero-shot encoder's nearest items for each keyphrase, not shown;
- ``random``: random (item, keyphrase) pairs, mostly negatives.

The budget is split across sources by ``shares``; a source with too few pairs leaves its
remainder to the next ones (``random`` last). Deterministic given ``seed``.
``eval_sample`` draws a grade-stratified sample of human-labelled pairs from the other splits,
for measuring the judge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path

import numpy as np
from pydantic.dataclasses import dataclass as pydantic_dataclass

from components.config import STEP_CONFIG, load_yaml
from components.contracts import ITEM_FIELDS
from components.data.esci import GRADES, Item, Judgment
from components.data.splits import QuerySplit
from components.judge.pairs import CandidatePair

DEFAULT_CONFIG = Path(__file__).with_name("candidates.yaml")
SOURCE_ORDER = ("clicked", "shown", "filtered", "retrieved", "random")


@pydantic_dataclass(frozen=True, config=STEP_CONFIG)
class CandidateConfig:
    budget: int = 2000
    shares: Mapping[str, float] = field(default_factory=lambda: {
        "clicked": 0.25, "shown": 0.25, "filtered": 0.15, "retrieved": 0.2, "random": 0.15})
    retrieval_top_k: int = 10
    retrieval_max_items: int = 3000   # items the zero-shot encoder embeds (sampled)
    item_fields: tuple[str, ...] = ITEM_FIELDS
    seed: int = 11

    def __post_init__(self) -> None:
        if set(self.shares) - set(SOURCE_ORDER):
            raise ValueError(f"shares: unknown sources {sorted(set(self.shares) - set(SOURCE_ORDER))}")
        if any(v < 0 for v in self.shares.values()) or sum(self.shares.values()) <= 0:
            raise ValueError("shares must be >= 0 and not all 0")
        if self.budget < 0:
            raise ValueError("budget must be >= 0")

    @classmethod
    def from_yaml(cls, path: Path | str = DEFAULT_CONFIG, **overrides) -> CandidateConfig:
        return load_yaml(cls, path, **overrides)


def _rng(seed: int, *key: str) -> np.random.Generator:
    digest = hashlib.sha256("\0".join((str(seed), *key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _sample(rows: Sequence, n: int, rng: np.random.Generator) -> list:
    if n >= len(rows):
        return list(rows)
    return [rows[i] for i in sorted(rng.choice(len(rows), size=n, replace=False))]


def allocate(budget: int, shares: Mapping[str, float], available: Mapping[str, int]) -> dict:
    """Pairs per source: proportional to shares, capped by what exists, remainder passed on."""
    total = sum(shares.get(s, 0.0) for s in SOURCE_ORDER)
    wanted = {s: int(round(budget * shares.get(s, 0.0) / total)) for s in SOURCE_ORDER}
    out, carry = {}, budget - sum(wanted.values())
    for s in SOURCE_ORDER:
        take = min(available.get(s, 0), max(wanted[s] + carry, 0))
        carry = wanted[s] + carry - take
        out[s] = take
    for s in SOURCE_ORDER:  # what is still left goes wherever pairs remain
        extra = min(carry, available.get(s, 0) - out[s])
        out[s] += extra
        carry -= extra
    return out


def click_pairs(click_log, train: set[str]) -> dict[str, list[CandidatePair]]:
    out: dict[str, list[CandidatePair]] = {"clicked": [], "shown": []}
    for r in sorted(click_log.records, key=lambda r: (r.query_id, r.item_id)):
        if r.query_id in train:
            source = "clicked" if r.clicks > 0 else "shown"
            out[source].append(CandidatePair(r.item_id, r.keyphrase, r.query_id, source))
    return out


def retrieved_pairs(encoder, keyphrases: Mapping[str, str], items: Mapping[str, Item],
                    config: CandidateConfig, exclude: set[tuple[str, str]]) -> list[CandidatePair]:
    """Top-k items per keyphrase by the zero-shot encoder (``encode(texts)`` L2-normalised)."""
    ids = _sample(sorted(items), config.retrieval_max_items, _rng(config.seed, "retrieval"))
    item_vecs = encoder.encode([items[i].text(config.item_fields) for i in ids])
    qids = sorted(keyphrases)
    query_vecs = encoder.encode([keyphrases[q] for q in qids])
    scores = query_vecs @ item_vecs.T
    out = []
    for row, qid in zip(scores, qids, strict=True):
        for j in np.argsort(-row, kind="stable")[: config.retrieval_top_k]:
            if (ids[j], keyphrases[qid]) not in exclude:
                out.append(CandidatePair(ids[j], keyphrases[qid], qid, "retrieved"))
    return out


def training_candidates(items: Mapping[str, Item], judgments: Sequence[Judgment],
                        split: QuerySplit, click_log, config: CandidateConfig,
                        encoder=None) -> list[CandidatePair]:
    """The budgeted, de-duplicated candidate pairs of train-split keyphrases."""
    train = set(split.queries("train"))
    keyphrases = {j.query_id: j.query for j in judgments if j.query_id in train}
    by_source = click_pairs(click_log, train)
    by_source["filtered"] = [
        CandidatePair(i, keyphrases[q], q, "filtered")
        for q, i in sorted(click_log.filtered) if q in train and i in items]
    shown = {p.key for p in by_source["clicked"] + by_source["shown"]}
    if encoder is not None and config.shares.get("retrieved", 0) > 0:
        by_source["retrieved"] = retrieved_pairs(encoder, keyphrases, items, config, shown)
    else:
        by_source["retrieved"] = []
    rng = _rng(config.seed, "random")
    item_ids, qids = sorted(items), sorted(keyphrases)
    n_random = min(config.budget, len(item_ids) * len(qids))
    by_source["random"] = [
        CandidatePair(item_ids[i], keyphrases[qids[q]], qids[q], "random")
        for i, q in zip(rng.integers(0, len(item_ids), n_random),
                        rng.integers(0, len(qids), n_random), strict=True)]
    seen: set[tuple[str, str]] = set()
    for source in SOURCE_ORDER:  # de-duplicate across sources, first source wins
        unique = []
        for p in by_source[source]:
            if p.key not in seen:
                seen.add(p.key)
                unique.append(p)
        by_source[source] = unique
    counts = allocate(config.budget, config.shares, {s: len(v) for s, v in by_source.items()})
    out = []
    for source in SOURCE_ORDER:
        out.extend(_sample(by_source[source], counts[source], _rng(config.seed, source)))
    return out


def eval_sample(judgments: Sequence[Judgment], split: QuerySplit, per_grade: int,
                seed: int = 13, splits: Sequence[str] = ("validation", "test")) -> list[Judgment]:
    """Human-labelled pairs of non-train keyphrases, ``per_grade`` of each grade (or all)."""
    allowed = {q for s in splits for q in split.queries(s)}
    out = []
    for grade in GRADES:
        pool = sorted((j for j in judgments if j.query_id in allowed and j.grade == grade),
                      key=lambda j: (j.query_id, j.item_id))
        out.extend(_sample(pool, per_grade, _rng(seed, "eval", grade)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m components.judge.candidates --out pairs.jsonl [--budget N]``: the training
    candidates of the default data, click simulation (components/clicks/config.yaml) and
    zero-shot encoder, as the pipeline's ``generate_candidates`` step makes them."""
    import argparse
    from collections import Counter

    from components.clicks.simulator import ClickConfig, ClickLog, simulate_clicks
    from components.data import load_items, load_judgments, split_queries
    from components.judge.pairs import save_candidates

    parser = argparse.ArgumentParser(description="Training candidate pairs for the judge")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    parser.add_argument("--budget", type=int, default=None)
    parser.add_argument("--clicks", default=None, help="a ClickLog directory "
                        "(default: simulate with the click simulator's default config)")
    parser.add_argument("--no-retrieval", action="store_true")
    args = parser.parse_args(argv)
    config = CandidateConfig.from_yaml(args.config, budget=args.budget)
    items, judgments = load_items(), load_judgments()
    split = split_queries(sorted({j.query_id for j in judgments}))
    clicks = (ClickLog.load(args.clicks) if args.clicks
              else simulate_clicks(items, judgments, ClickConfig.from_yaml()))
    encoder = None
    if not args.no_retrieval:
        from components.baselines.rankers import EncoderRanker
        from components.models.pretrained import minilm_path
        encoder = EncoderRanker(minilm_path(), "minilm_zero_shot")
    pairs = training_candidates(items, judgments, split, clicks, config, encoder)
    save_candidates(args.out, pairs)
    print(f"{len(pairs)} candidates -> {args.out}: {dict(Counter(p.source for p in pairs))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
