"""Serve a model repository + keyphrase index and recommend for real test-split items.

    python -m bench.serving.demo --model-repository DIR --student DIR [--index-uri URI]

Starts Triton and the gateway on loopback, sends Recommend (with cross-encoder re-ranking)
for a few items of the test queries, and prints each answer with the keyphrases humans judged
for that item (E exact, S substitute, C complement, I irrelevant) where one exists.
"""

from __future__ import annotations

import argparse
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


def run_demo(model_repository: Path, index_uri: str, n_items: int = 4, k: int = 8,
             rerank: bool = True) -> list[pb.RecommendResponse]:
    items, judgments = test_split_items()
    judged: dict[str, dict[str, str]] = defaultdict(dict)
    for j in judgments:
        judged[j.item_id][j.query.lower()] = j.grade
    step = max(len(items) // n_items, 1)
    chosen = items[::step][:n_items]
    answers = []
    with ServingStack(model_repository, index_uri) as stack:
        print(f"serving on {stack.target} (triton {stack.triton.grpc_url})\n")
        for item in chosen:
            request = pb.RecommendRequest(item=item_message(item), k=k,
                                          options=pb.RecommendOptions(rerank=rerank))
            response = recommend(stack.target, request, timeout_s=30)
            answers.append(response)
            humans = judged.get(item.item_id, {})
            print(f"item {item.item_id}: {item.title[:100]}")
            print(f"  category: {item.category or '-'}")
            print(format_table(response))
            hits = [f"{kp.text} [{humans[kp.text.lower()]}]" for kp in response.keyphrases
                    if kp.text.lower() in humans]
            truth = ", ".join(f"{q} [{g}]" for q, g in sorted(humans.items())) or "none"
            print(f"  human-judged keyphrases of this item: {truth}")
            print(f"  recommended and human-judged: {', '.join(hits) or 'none'}\n")
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
    run_demo(repository, uri, args.items, args.k, not args.no_rerank)


if __name__ == "__main__":
    main()
