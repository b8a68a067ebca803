"""Serve a model repository + keyphrase index and recommend for real test-split items.

    python -m bench.serving.demo --model-repository DIR --student DIR [--index-uri URI]
        [--out served.json] [--log-dir DIR] [--brief] [--explain N]

Starts Triton and the gateway on loopback, sends Recommend (with cross-encoder re-ranking)
for a few items of the test queries, and prints each answer with the keyphrases humans judged
for that item (E exact, S substitute, C complement, I irrelevant) where one exists.
``--brief`` prints three lines an item; ``--out`` writes the answers as JSON (the run report
reads them); ``--log-dir`` keeps Triton's and the gateway's logs there. ``--explain N``: for
the first N items, where the served cross-encoder has dimension heads, also a re-ranked call
whose keyphrases are printed with the heads' estimates ("type ✓ brand ✗", the CLI client's
marks and threshold); where it has none, one line says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.serving.fixtures import (
    build_index,
    ensure_model_repository,
    item_message,
    test_split_items,
)
from components.settings import artifacts_dir
from serving.gateway.client import DIMENSION_THRESHOLD, format_dimensions, format_table, recommend
from serving.gateway.stack import ServingStack
from serving.proto.kpdistill.v1 import recommender_pb2 as pb


def answer_record(item, response: pb.RecommendResponse, humans: dict[str, str]) -> dict:
    """One served answer as plain data, with the human grade of each keyphrase ESCI judged."""
    return {"item_id": item.item_id, "title": item.title, "category": item.category,
            "model_version": response.model_version,
            "total_ms": round(response.timings.total_ms, 1),
            "keyphrases": [{"rank": kp.rank, "text": kp.text, "source": kp.source,
                            "bi_encoder_score": round(kp.bi_encoder_score, 4),
                            "human_grade": humans.get(kp.text.lower(), "")}
                           for kp in response.keyphrases]}


def brief_lines(record: dict) -> list[str]:
    kps = ", ".join(f"{kp['text']}" + (f" [{kp['human_grade']}]" if kp["human_grade"] else "")
                    + ("" if kp["source"] == "esci" else f" ({kp['source']})")
                    for kp in record["keyphrases"])
    return [f"  {record['title'][:96]}", f"    {record['category'] or '-'}",
            f"    -> {kps}"]


def served_dimensions(model_repository: Path) -> tuple[str, ...]:
    """The dimension heads the repository's ``score_pairs`` serves (empty: none), read from the
    ``dimensions`` parameter of its config (components/export/repository.py)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse((Path(model_repository) / "score_pairs" / "config.pbtxt")
                               .read_text(), model_config_pb2.ModelConfig())
    if "dimensions" not in config.parameters:
        return ()
    return tuple(n for n in config.parameters["dimensions"].string_value.split(",") if n)


def explained_lines(response: pb.RecommendResponse) -> list[str]:
    """A re-ranked answer, one keyphrase a line with its dimension marks."""
    width = max((len(kp.text) for kp in response.keyphrases), default=0)
    return [f"      {kp.text.ljust(width)}  P {kp.cross_encoder_score:.2f}  "
            f"{format_dimensions(kp.dimensions) or '(no dimension named)'}"
            for kp in response.keyphrases]


def run_demo(model_repository: Path, index_uri: str, n_items: int = 4, k: int = 8,
             rerank: bool = True, log_dir: Path | None = None, out: Path | None = None,
             brief: bool = False, explain: int = 0) -> list[pb.RecommendResponse]:
    items, judgments = test_split_items()
    judged: dict[str, dict[str, str]] = defaultdict(dict)
    for j in judgments:
        judged[j.item_id][j.query.lower()] = j.grade
    step = max(len(items) // n_items, 1)
    chosen = items[::step][:n_items]
    answers, records = [], []
    asked, explain = explain, explain if served_dimensions(model_repository) else 0
    with ServingStack(model_repository, index_uri, log_dir=log_dir) as stack:
        if not brief:
            print(f"serving on {stack.target} (triton {stack.triton.grpc_url})\n")
        for n, item in enumerate(chosen):
            request = pb.RecommendRequest(item=item_message(item), k=k,
                                          options=pb.RecommendOptions(rerank=rerank))
            response = recommend(stack.target, request, timeout_s=30)
            answers.append(response)
            humans = judged.get(item.item_id, {})
            records.append(answer_record(item, response, humans))
            if n < explain:  # the cross-encoder's explanation of its own top keyphrases
                request.options.rerank = True
                explained = response if rerank else recommend(stack.target, request,
                                                              timeout_s=60)
                records[-1]["explained"] = [
                    {"text": kp.text, "cross_encoder_score": round(kp.cross_encoder_score, 4),
                     "dimensions": format_dimensions(kp.dimensions)}
                    for kp in explained.keyphrases]
            if brief:
                print("\n".join(brief_lines(records[-1])))
                if n < explain:
                    print(f"    re-ranked, per dimension (\u2713 match, \u2717 mismatch, ? unsure "
                          f"at P >= {DIMENSION_THRESHOLD}; not-mentioned left out):")
                    print("\n".join(explained_lines(explained)))
                continue
            print(f"item {item.item_id}: {item.title[:100]}")
            print(f"  category: {item.category or '-'}")
            print(format_table(response))
            hits = [f"{kp.text} [{humans[kp.text.lower()]}]" for kp in response.keyphrases
                    if kp.text.lower() in humans]
            truth = ", ".join(f"{q} [{g}]" for q, g in sorted(humans.items())) or "none"
            print(f"  human-judged keyphrases of this item: {truth}")
            print(f"  recommended and human-judged: {', '.join(hits) or 'none'}")
            if n < explain and not rerank:
                print("  re-ranked by the cross-encoder, with its dimension estimates:")
                print(format_table(explained))
            print()
    if asked and not explain:
        print("  (the served cross-encoder has no dimension heads, so no per-dimension "
              "explanations: README, 'Explained recommendations')")
    if out is not None:
        Path(out).write_text(json.dumps({"target": "triton + gateway", "k": k,
                                         "rerank": rerank, "answers": records}, indent=1))
    return answers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", type=Path,
                        default=artifacts_dir() / "model_repository")
    parser.add_argument("--student", type=Path, help="student that embeds the index "
                        "(needed unless --index-uri names a built index)")
    parser.add_argument("--index-uri", help="an existing index (Lite path or server URI)")
    parser.add_argument("--model-version", default="student")
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("-k", type=int, default=8)
    parser.add_argument("--no-rerank", action="store_true")
    parser.add_argument("--out", type=Path, help="write the answers here as JSON")
    parser.add_argument("--log-dir", type=Path, help="Triton's and the gateway's logs")
    parser.add_argument("--brief", action="store_true", help="three lines an item")
    parser.add_argument("--explain", type=int, default=0, metavar="N",
                        help="the first N items also re-ranked, with the cross-encoder's "
                             "dimension estimates (where it has dimension heads)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="kpdistill-demo-"))
    repository = ensure_model_repository(args.model_repository, work)
    uri = args.index_uri
    if uri is None:
        from components.models.pretrained import minilm_path

        if args.student is None and repository == args.model_repository:
            parser.error("--student is needed to embed the index with the model the "
                         "repository serves (or give --index-uri)")
        uri = str(work / "index" / "keyphrases.db")
        build_index(args.student or minilm_path(), uri, args.model_version)
    run_demo(repository, uri, args.items, args.k, not args.no_rerank, args.log_dir, args.out,
             args.brief, args.explain)


if __name__ == "__main__":
    main()
