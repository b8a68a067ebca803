"""Stages ``assistant`` and ``pool``: the cross-encoder learns the judge, then scores the pool.

The assistant trains only on labels of training keyphrases (WANDS and mined phrases, no ESCI
query), so one assistant serves every fold. Its objective (and checkpoint) is chosen by how
well it agrees with the judge on held-out keyphrases (mean per-keyphrase Pearson correlation
with the judge's P(relevant)): no human label is used to build it. It is then reported as a
ranker of every ESCI query's judged products, beside the judge.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench.cv.common import FIELDS, Data, log, read_json, score_judged, write_json
from bench.cv.config import CVConfig
from components.contracts import read_jsonl
from components.device import synchronize
from components.judge.labels import load_teacher_labels
from components.training.cross_encoder import CrossEncoderScorer, train_cross_encoder


def _held_out(keyphrase: str, fraction: float) -> bool:
    digest = hashlib.sha256(f"assistant-holdout:{keyphrase}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def judge_agreement(scorer, labels, items) -> float:
    """Mean over keyphrases of Pearson(assistant score, judge P(relevant))."""
    scores = scorer.score_pairs([lab.keyphrase for lab in labels],
                                [items[lab.item_id].text(FIELDS) for lab in labels])
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for lab, s in zip(labels, scores, strict=True):
        groups[lab.keyphrase].append((float(s), float(lab.p_relevant)))
    corrs = []
    for pairs in groups.values():
        a, b = np.array(pairs).T
        if len(a) > 2 and a.std() > 0 and b.std() > 0:
            corrs.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(corrs)) if corrs else float("nan")


def run_assistant(config: CVConfig, work: Path) -> None:
    out = work / "assistant"
    data = Data.load(config.max_queries)
    labels = [lab for lab in load_teacher_labels(work / "judge" / "teacher_labels.jsonl")
              if lab.query_id is None and lab.p_relevant is not None]
    train = [lab for lab in labels if not _held_out(lab.keyphrase,
                                                    config.assistant_holdout_fraction)]
    held = [lab for lab in labels if _held_out(lab.keyphrase, config.assistant_holdout_fraction)]
    log(f"assistant: {len(train)} train labels, {len(held)} held-out labels "
        f"({len({lab.keyphrase for lab in train})} keyphrases)")
    base = replace(config.cross_encoder, base_model=config.base_model)
    tried = {}
    for objective in config.assistant_objectives:
        ce_config = replace(base, objective=objective)
        start = time.perf_counter()
        ce, stats = train_cross_encoder(
            train, data.items, ce_config, out / objective,
            validate=lambda scorer: judge_agreement(scorer, held, data.items))
        scorer = CrossEncoderScorer(ce, ce_config.max_length, config.eval_batch_size)
        per_query = score_judged(scorer, data, data.query_text)
        tried[objective] = {
            "judge_agreement": judge_agreement(scorer, held, data.items),
            "train": stats.to_dict(), "seconds": round(time.perf_counter() - start, 1),
            "ndcg@10_all_queries": float(np.nanmean([v["ndcg@10"] for v in per_query.values()])),
            "per_query": per_query}
        log(f"assistant {objective}: agreement {tried[objective]['judge_agreement']:.4f}, "
            f"nDCG@10 (all queries) {tried[objective]['ndcg@10_all_queries']:.4f}, "
            f"{stats.examples_per_s:.0f} ex/s")
        del ce, scorer
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    chosen = max(tried, key=lambda o: tried[o]["judge_agreement"])
    write_json(out / "assistant.json", {
        "chosen": chosen, "chosen_on": "mean per-keyphrase Pearson with the judge on "
        f"{len({lab.keyphrase for lab in held})} held-out training keyphrases",
        "train_labels": len(train), "held_out_labels": len(held),
        "train_keyphrases": len({lab.keyphrase for lab in train}),
        "config": {k: getattr(base, k) for k in ("epochs", "batch_size", "learning_rate",
                                                  "max_length", "list_size")},
        "objectives": tried})


def run_pool(config: CVConfig, work: Path) -> None:
    from sentence_transformers import CrossEncoder

    data = Data.load(config.max_queries)
    model_dir = work / "assistant" / read_json(work / "assistant" / "assistant.json")["chosen"]
    rows = read_jsonl(work / "prepare" / "pool_pairs.jsonl")
    keyphrases = [r["keyphrase"] for r in rows]
    texts = [data.items[r["item_id"]].text(FIELDS) for r in rows]
    scorer = CrossEncoderScorer.load(model_dir, batch_size=config.pool_batch_size)
    device = scorer.device
    scorer.score_pairs(keyphrases[:4096], texts[:4096])  # warm-up
    synchronize(device)
    start = time.perf_counter()
    scores = scorer.score_pairs(keyphrases, texts)
    synchronize(device)
    seconds = time.perf_counter() - start
    n = min(config.predict_anchor_pairs, len(rows))
    anchor = CrossEncoder(str(model_dir), device=str(device))
    synchronize(device)
    a_start = time.perf_counter()
    anchor.predict(list(zip(keyphrases[:n], texts[:n], strict=True)),
                   batch_size=config.pool_batch_size, show_progress_bar=False)
    synchronize(device)
    a_seconds = time.perf_counter() - a_start
    (work / "pool").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        work / "pool" / "pool_scores.npz", keyphrase=np.array(keyphrases),
        item_id=np.array([r["item_id"] for r in rows]),
        source=np.array([r["source"] for r in rows]), score=scores.astype(np.float32))
    with open(work / "judge" / "teacher_labels.jsonl", encoding="utf-8") as fh:
        judged = sum(1 for _ in fh)
    write_json(work / "pool" / "pool.json", {
        "pairs": len(rows), "keyphrases": len(set(keyphrases)), "judged_pairs": judged,
        "pool_to_judged": round(len(rows) / max(1, judged), 1),
        "seconds": round(seconds, 2), "pairs_per_s": round(len(rows) / seconds, 1),
        "batch_size": config.pool_batch_size, "device": str(device),
        "anchor_cross_encoder_predict": {"pairs": n, "seconds": round(a_seconds, 2),
                                         "pairs_per_s": round(n / a_seconds, 1)},
        "mean_score_by_source": {s: float(scores[[r["source"] == s for r in rows]].mean())
                                 for s in sorted({r["source"] for r in rows})}})
    log(f"pool: {len(rows)} pairs at {len(rows) / seconds:.0f} pairs/s "
        f"(CrossEncoder.predict {n / a_seconds:.0f} pairs/s)")
