"""Serve a model repository + keyphrase index and recommend for real test-split items.

    python -m bench.serving.demo --model-repository DIR --student DIR [--index-uri URI]
        [--out served.json] [--log-dir DIR] [--brief]

Starts Triton and the gateway on loopback, sends Recommend (with cross-encoder re-ranking)
for a few items of the test queries, and prints each answer with the keyphrases humans judged
for that item (E exact, S substitute, C complement, I irrelevant) where one exists.
``--brief`` prints three lines an item; ``--out`` writes the answers as JSON (the run report
reads them); ``--log-dir`` keeps Triton's and the gateway's logs there.
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
from serving.gateway.client import format_table, recommend
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


def run_demo(model_repository: Path, index_uri: str, n_items: int = 4, k: int = 8,
             rerank: bool = True, log_dir: Path | None = None, out: Path | None = None,
             brief: bool = False) -> list[pb.RecommendResponse]:
    items, judgments = test_split_items()
    judged: dict[str, dict[str, str]] = defaultdict(dict)
    for j in judgments:
        judged[j.item_id][j.query.lower()] = j.grade
    step = max(len(items) // n_items, 1)
    chosen = items[::step][:n_items]
    answers, records = [], []
    with ServingStack(model_repository, index_uri, log_dir=log_dir) as stack:
        if not brief:
            print(f"serving on {stack.target} (triton {stack.triton.grpc_url})\n")
        for item in chosen:
            request = pb.RecommendRequest(item=item_message(item), k=k,
                                          options=pb.RecommendOptions(rerank=rerank))
            response = recommend(stack.target, request, timeout_s=30)
            answers.append(response)
            humans = judged.get(item.item_id, {})
            records.append(answer_record(item, response, humans))
            if brief:
                print("\n".join(brief_lines(records[-1])))
                continue
            print(f"item {item.item_id}: {item.title[:100]}")
            print(f"  category: {item.category or '-'}")
            print(format_table(response))
            hits = [f"{kp.text} [{humans[kp.text.lower()]}]" for kp in response.keyphrases
                    if kp.text.lower() in humans]
            truth = ", ".join(f"{q} [{g}]" for q, g in sorted(humans.items())) or "none"
            print(f"  human-judged keyphrases of this item: {truth}")
            print(f"  recommended and human-judged: {', '.join(hits) or 'none'}\n")
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
             args.brief)


if __name__ == "__main__":
    main()
