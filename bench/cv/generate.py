"""Stage ``generate``: the judge's LLM writes one buyer query for each of a sample of items.

The sample is drawn with the folds' seed from the whole catalogue; the texts are the items'
own (no label of any kind), and no generated text equal to an ESCI query (any split) is kept,
so the keyphrases can be shared by all folds like the WANDS and mined ones
(``bench.cv.querygen``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.cv.common import Data, log, write_json
from bench.cv.config import CVConfig
from bench.cv.querygen import generate_keyphrases
from components.contracts import write_jsonl_atomic

KEYPHRASES = "generate/keyphrases.jsonl"


def run_generate(config: CVConfig, work: Path, judge) -> None:
    data = Data.load(config.max_queries)
    ids = sorted(data.items)
    rng = np.random.default_rng(config.fold_seed)
    drawn = sorted(rng.choice(len(ids), min(config.generated_items, len(ids)), replace=False))
    items = [data.items[ids[i]] for i in drawn]
    start = time.perf_counter()
    kept, stats = generate_keyphrases(judge.model, judge.tokenizer, items,
                                      exclude=data.query_text.values(),
                                      batch_size=config.generate_batch_size,
                                      max_new_tokens=config.generate_max_new_tokens)
    seconds = time.perf_counter() - start
    write_jsonl_atomic(work / KEYPHRASES, [{"id": f"generated:{k.item_id}", "text": k.text,
                                            "item_id": k.item_id} for k in kept])
    write_json(work / "generate" / "summary.json", {
        **stats.to_dict(), "model": config.judge_model, "seconds": round(seconds, 1),
        "items_per_s": round(len(items) / seconds, 1) if seconds else None,
        "examples": [{"item": data.items[k.item_id].title[:120], "keyphrase": k.text}
                     for k in kept[:25]]})
    log(f"generate: {stats.kept} keyphrases from {len(items)} items in {seconds:.0f} s "
        f"(dropped {dict(stats.dropped)})")
