"""Baseline quality benchmark: random, BM25, zero-shot MiniLM and MPNet on the human labels.

    python -m components.baselines.bench --out docs/results

Writes (merging by model key) ``quality.json`` and ``quality.md``. Each model is evaluated on
the test queries and on all 150 queries; zero-shot models never saw any of them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from components.baselines.evaluate import evaluate_scorer
from components.baselines.rankers import BM25Ranker, EncoderRanker, RandomRanker
from components.baselines.results import merge_results, write_markdown
from components.contracts import ITEM_FIELDS
from components.data.bundle import DataBundle
from components.data.esci import Item, Judgment
from components.data.keyphrases import Keyphrase
from components.data.splits import QuerySplit
from components.models.pretrained import minilm_path, mpnet_path

BASELINES = ("random", "bm25", "minilm_zero_shot", "mpnet_zero_shot")


@dataclass(frozen=True)
class BaselineConfig:
    models: tuple[str, ...] = BASELINES
    item_fields: tuple[str, ...] = ITEM_FIELDS
    k: int = 10
    seed: int = 0
    splits: tuple[str, ...] = ("test", "all")


def build_ranker(key: str, corpus: Sequence[str], seed: int = 0):
    if key == "random":
        return RandomRanker(seed)
    if key == "bm25":
        return BM25Ranker(corpus)
    if key == "minilm_zero_shot":
        return EncoderRanker(minilm_path(), key)
    if key == "mpnet_zero_shot":
        return EncoderRanker(mpnet_path(), key, batch_size=32)
    raise ValueError(f"unknown baseline {key!r}; known: {BASELINES}")


def run_baselines(items: Mapping[str, Item], judgments: Sequence[Judgment], split: QuerySplit,
                  universe: Sequence[Keyphrase], config: BaselineConfig,
                  command: str = "") -> dict:
    corpus = [it.text(config.item_fields) for it in items.values()]
    results = {}
    for key in config.models:
        start = time.perf_counter()
        ranker = build_ranker(key, corpus, config.seed)
        entry = {"command": command, "item_fields": list(config.item_fields)}
        for name in config.splits:
            keep = set(split.assignment) if name == "all" else set(split.queries(name))
            subset = [j for j in judgments if j.query_id in keep]
            metrics = evaluate_scorer(ranker, items, subset, universe, config.item_fields,
                                      config.k)
            per_query = metrics.pop("per_query")
            if name == "test":
                metrics["per_query_ndcg@10"] = {q: v[f"ndcg@{config.k}"]
                                                for q, v in per_query.items()}
            entry[name] = metrics
        entry["seconds"] = round(time.perf_counter() - start, 1)
        results[key] = entry
        print(f"{key:>18}: test nDCG@{config.k} {entry.get('test', {}).get('ndcg@10', float('nan')):.4f}"
              f"  ({entry['seconds']} s)", file=sys.stderr)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--models", nargs="+", default=list(BASELINES), choices=BASELINES)
    parser.add_argument("--item-fields", nargs="+", default=list(BaselineConfig.item_fields))
    args = parser.parse_args(argv)
    config = BaselineConfig(models=tuple(args.models), item_fields=tuple(args.item_fields))
    command = "python -m components.baselines.bench " + shlex.join(
        list(argv) if argv is not None else sys.argv[1:])
    bundle = DataBundle.from_raw()  # the same items, split and universe as the pipeline
    split, universe = bundle.split, bundle.keyphrases
    results = run_baselines(bundle.items, bundle.judgments, split, universe, config,
                            command.strip())
    data = merge_results(args.out / "quality.json", results,
                         meta={"split": split.to_dict()["config"],
                               "baseline_config": asdict(config),
                               "keyphrase_universe": len(universe)})
    print(write_markdown(args.out / "quality.md", data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
