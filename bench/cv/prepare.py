"""Stage ``prepare``: splits, training keyphrases, judge candidates and pool pairs.

Training keyphrases are the WANDS queries, phrases mined from the catalogue and the queries
the judge's LLM wrote for catalogue items (stage ``generate``), whose normalised text is no
ESCI query (any split): the judge, the assistant and the pool built on
them are shared by all folds. The click log covers the ESCI queries; each fold trains only on
its own train queries' part of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.cv.common import (
    FIELDS,
    Data,
    log,
    make_splits,
    score_judged,
    write_json,
)
from bench.cv.config import CVConfig
from bench.cv.generate import KEYPHRASES
from components.clicks.simulator import ClickConfig, simulate_clicks
from components.contracts import read_jsonl, write_jsonl_atomic
from components.data import load_wands_queries, normalize_keyphrase
from components.data.mining import mined_universe
from components.training.student import InMemoryEncoder, build_student


def training_keyphrases(data: Data, config: CVConfig, generated: list[dict] = ()) -> list[dict]:
    """WANDS queries, mined phrases, then ``generated`` ones; none equal to an ESCI query."""
    esci = {normalize_keyphrase(t) for t in data.query_text.values()}
    out, seen = [], set(esci)
    for q in load_wands_queries():
        norm = normalize_keyphrase(q.query)
        if norm not in seen:
            seen.add(norm)
            out.append({"id": f"wands:{q.query_id}", "text": q.query, "source": "wands"})
    for kp in mined_universe(data.items, exclude=seen, limit=config.mined_limit):
        if kp.normalized not in seen:
            seen.add(kp.normalized)
            out.append({"id": kp.keyphrase_id, "text": kp.text, "source": "mined"})
    if config.max_training_keyphrases:
        out = out[: config.max_training_keyphrases]
    for g in generated:
        norm = normalize_keyphrase(g["text"])
        if norm not in seen:
            seen.add(norm)
            out.append({"id": g["id"], "text": g["text"], "source": "generated"})
    return out


def nearest_items(encoder, keyphrases: list[str], item_ids: list[str], data: Data,
                  k: int) -> np.ndarray:
    """Indices (into ``item_ids``) of each keyphrase's k nearest items, best first."""
    item_vecs = encoder.encode([data.items[i].text(FIELDS) for i in item_ids])
    out = []
    for start in range(0, len(keyphrases), 512):
        q = encoder.encode(keyphrases[start:start + 512])
        scores = q @ item_vecs.T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
        out.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(out)


def run(config: CVConfig, work: Path) -> None:
    out = work / "prepare"
    data = Data.load(config.max_queries)
    splits = make_splits(data.query_text, config.n_folds, config.fold_seed, config.seed13_split)
    write_json(out / "splits.json", {name: s.to_dict() for name, s in splits.items()})
    simulate_clicks(data.items, data.judgments, ClickConfig.from_yaml()).save(out / "clicks")

    generated = work / KEYPHRASES
    keyphrases = training_keyphrases(data, config,
                                     read_jsonl(generated) if generated.exists() else [])
    write_jsonl_atomic(out / "training_keyphrases.jsonl", keyphrases)
    by_source = {s: sum(k["source"] == s for k in keyphrases)
                 for s in ("wands", "mined", "generated")}
    log(f"training keyphrases: {len(keyphrases)} {by_source}")

    from components.training.config import StudentConfig
    encoder = InMemoryEncoder(build_student(StudentConfig(base_model=config.base_model)),
                              batch_size=config.eval_batch_size)
    write_json(out / "zero_shot.json", {
        str(d): score_judged(InMemoryEncoder(encoder.model, d if d < 384 else None,
                                             config.eval_batch_size), data, data.query_text)
        for d in config.student.matryoshka_dims})
    item_ids = sorted(data.items)
    depth = max(config.retrieved_per_keyphrase, config.pool_retrieved)
    texts = [k["text"] for k in keyphrases]
    top = nearest_items(encoder, texts, item_ids, data, min(depth, len(item_ids)))
    rng = np.random.default_rng(config.fold_seed)
    candidates, pool = [], []
    for text, row in zip(texts, top, strict=True):
        retrieved = [item_ids[i] for i in row]
        judged = set(retrieved[: config.retrieved_per_keyphrase])
        candidates += [{"item_id": i, "keyphrase": text, "query_id": None,
                        "source": "retrieved"} for i in retrieved[: config.retrieved_per_keyphrase]]
        for i in rng.choice(len(item_ids), config.random_per_keyphrase, replace=False):
            if item_ids[i] not in judged:
                judged.add(item_ids[i])
                candidates.append({"item_id": item_ids[i], "keyphrase": text, "query_id": None,
                                   "source": "random"})
        in_pool = set()
        for i in retrieved[: config.pool_retrieved]:
            in_pool.add(i)
            pool.append({"item_id": i, "keyphrase": text, "source": "retrieved"})
        for i in rng.choice(len(item_ids), config.pool_random, replace=False):
            if item_ids[i] not in in_pool:
                in_pool.add(item_ids[i])
                pool.append({"item_id": item_ids[i], "keyphrase": text, "source": "random"})
    write_jsonl_atomic(out / "candidates.jsonl", candidates)
    write_jsonl_atomic(out / "pool_pairs.jsonl", pool)
    write_json(out / "summary.json", {
        "queries": len(data.query_text), "splits": {n: {r: len(s.queries(r)) for r in
                                                        ("train", "validation", "test")}
                                                    for n, s in splits.items()},
        "training_keyphrases": {"all": len(keyphrases), **by_source},
        "candidates": len(candidates), "pool_pairs": len(pool)})
    log(f"candidates {len(candidates)}, pool pairs {len(pool)}")
