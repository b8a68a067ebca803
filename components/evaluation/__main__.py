"""Evaluate a model on your own judgments: the benchmark's metrics on any labelled data.

    python -m components.evaluation MODEL --judgments FILE [--dims 256 128] [--out results.json]

MODEL is a trained student (a sentence-transformers directory, e.g. a pipeline run's
``train-bi-encoder/student``), a trained cross-encoder (``train-cross-encoder/model``), or a
baseline: random, bm25, minilm_zero_shot, mpnet_zero_shot. FILE holds queries, items and
graded labels with their gains (docs/JUDGMENTS.md). The output is the benchmark's table:
nDCG@10 with the file's gains, recall@10, precision@10 and MRR over the relevant grades, and
irrelevant_rate@10 (each judged item's top 10 among the file's queries, share judged
irrelevant); ``--dims`` adds a student's truncated (Matryoshka) embeddings.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from components.evaluation.evaluate import METRICS, metrics_markdown
from components.evaluation.judgments import JudgmentsError, JudgmentSet, load_judgment_set


def is_cross_encoder(model_dir: Path) -> bool:
    """A saved cross-encoder is a sequence-classification model; a student is not."""
    config = model_dir / "config.json"
    if not config.is_file():
        return False
    architectures = json.loads(config.read_text()).get("architectures") or []
    return any(a.endswith("ForSequenceClassification") for a in architectures)


def load_scorer(model: str, judged: JudgmentSet):
    from components.baselines.bench import BASELINES, build_ranker

    if model in BASELINES:
        corpus = [it.text(judged.item_fields) for it in judged.items.values()]
        return build_ranker(model, corpus)
    path = Path(model)
    if not path.is_dir():
        raise SystemExit(f"{model}: neither a model directory nor a baseline "
                         f"({', '.join(BASELINES)})")
    if is_cross_encoder(path):
        from components.models.cross_encoder import CrossEncoderScorer

        return CrossEncoderScorer.load(path)
    from components.baselines.rankers import EncoderRanker

    return EncoderRanker(path, path.name)


def evaluate_on(scorer, judged: JudgmentSet, k: int = 10, item_side: bool = True) -> dict:
    """The benchmark's metrics of one scorer on a judgment set."""
    from components.baselines.evaluate import item_side as item_side_metrics
    from components.baselines.evaluate import query_side

    q = query_side(scorer, judged.items, judged.judgments, judged.item_fields, k,
                   gains=judged.gains, relevant=judged.relevant)
    out = {**q["macro"], "queries": q["queries_counted"][f"ndcg@{k}"]}
    out[f"irrelevant_rate@{k}"] = float("nan")
    if item_side:
        it = item_side_metrics(scorer, judged.items, judged.judgments, judged.universe,
                               judged.item_fields, k, irrelevant=judged.irrelevant)
        out[f"irrelevant_rate@{k}"] = it["micro"]
        out["judged_recommendations"] = it["judged_pairs"]
    out["per_query_ndcg@10"] = {qid: v[f"ndcg@{k}"] for qid, v in q["per_query"].items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.evaluation",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="student or cross-encoder directory, or a baseline name")
    parser.add_argument("--judgments", required=True, type=Path, help="judgments JSON file")
    parser.add_argument("--dims", type=int, nargs="*", default=[],
                        help="also evaluate a student truncated to these dimensions")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    try:
        judged = load_judgment_set(args.judgments)
    except JudgmentsError as exc:
        print(exc, file=sys.stderr)
        return 2
    scorer = load_scorer(args.model, judged)
    name = Path(args.model).name if Path(args.model).is_dir() else args.model
    rows = {name: evaluate_on(scorer, judged)}
    if args.dims and hasattr(scorer, "encode"):
        from components.evaluation.evaluate import TruncatedEncoder

        for dim in args.dims:
            rows[f"{name}_{dim}"] = evaluate_on(TruncatedEncoder(scorer, dim, f"{name}_{dim}"),
                                                judged)
    summary = judged.summary()
    print(f"{summary['name']}: {summary['queries']} queries, {summary['items']} items, "
          f"{summary['judgments']} judgments; gains {judged.gains}; relevant "
          f"{sorted(judged.relevant)}")
    print(metrics_markdown(rows, title=summary["name"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"judgments": summary, "metrics": list(METRICS),
                                        "models": rows}, indent=2,
                                       default=lambda v: None if isinstance(v, float)
                                       and math.isnan(v) else v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
