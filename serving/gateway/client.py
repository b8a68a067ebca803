"""Send one Recommend call and print the answer as a table.

    python -m serving.gateway.client --title "Set of 4 red wine glasses" \
        --category "Home & Kitchen > Glassware" --brand Libbey -k 10 --rerank

With ``--rerank`` and a served cross-encoder that has dimension heads, a last column explains
each keyphrase per judge dimension, e.g. ``type ✓ brand ✓ size ✗``: ``✓`` where the head's
P(match) reaches the threshold (``--dimension-threshold``, default 0.5), ``✗`` where P(mismatch)
does, nothing where P(not mentioned) does (the keyphrase names no brand, say), ``?`` where no
answer reaches it. With a threshold of 0.5 or more at most one of the three can.
"""

from __future__ import annotations

import argparse
import sys

import grpc

from serving.proto.kpdistill.v1 import recommender_pb2 as pb
from serving.proto.kpdistill.v1 import recommender_pb2_grpc as pb_grpc

DIMENSION_THRESHOLD = 0.5
MATCH, MISMATCH, UNSURE = "\u2713", "\u2717", "?"


def format_dimensions(dimensions, threshold: float = DIMENSION_THRESHOLD) -> str:
    """``type ✓ brand ✗ size ?`` from a keyphrase's dimension estimates (module docstring);
    the dimensions the keyphrase does not mention are left out."""
    marks = []
    for d in dimensions:
        if d.match >= threshold:
            marks.append(f"{d.dimension} {MATCH}")
        elif d.mismatch >= threshold:
            marks.append(f"{d.dimension} {MISMATCH}")
        elif d.not_mentioned < threshold:
            marks.append(f"{d.dimension} {UNSURE}")
    return " ".join(marks)


def format_table(response: pb.RecommendResponse,
                 dimension_threshold: float = DIMENSION_THRESHOLD) -> str:
    explained = any(kp.dimensions for kp in response.keyphrases)
    rows = [("rank", "keyphrase", "bi-enc", "cross-enc", "category", "source")
            + (("dimensions",) if explained else ())]
    for kp in response.keyphrases:
        ce = f"{kp.cross_encoder_score:.3f}" if kp.HasField("cross_encoder_score") else "-"
        rows.append((str(kp.rank), kp.text, f"{kp.bi_encoder_score:.3f}", ce, kp.category,
                     kp.source)
                    + ((format_dimensions(kp.dimensions, dimension_threshold),) if explained
                       else ()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    t = response.timings
    lines.append(f"model {response.model_version} | index {response.index_collection} | "
                 f"embed {t.embed_ms:.1f} ms, search {t.search_ms:.1f} ms, "
                 f"rerank {t.rerank_ms:.1f} ms, total {t.total_ms:.1f} ms")
    return "\n".join(lines)


def recommend(target: str, request: pb.RecommendRequest, timeout_s: float) -> pb.RecommendResponse:
    with grpc.insecure_channel(target) as channel:
        return pb_grpc.KeyphraseRecommenderStub(channel).Recommend(request, timeout=timeout_s)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default="127.0.0.1:50151", help="gateway HOST:PORT")
    p.add_argument("--title", required=True)
    p.add_argument("--category", default="")
    p.add_argument("--brand", default="")
    p.add_argument("--description", default="")
    p.add_argument("--item-id", default="")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--min-score", type=float, default=0.0)
    p.add_argument("--rerank", action="store_true", help="re-rank with the cross-encoder")
    p.add_argument("--filter-category", action="store_true",
                   help="only keyphrases of the item's top-level category")
    p.add_argument("--keep-near-duplicates", action="store_true")
    p.add_argument("--dimension-threshold", type=float, default=DIMENSION_THRESHOLD,
                   help="probability a dimension's answer needs to be shown as match (✓) or "
                        "mismatch (✗) when re-ranking returns dimension estimates")
    p.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    args = p.parse_args(argv)
    request = pb.RecommendRequest(
        item=pb.Item(item_id=args.item_id, title=args.title, category=args.category,
                     brand=args.brand, description=args.description),
        k=args.k, min_score=args.min_score,
        options=pb.RecommendOptions(rerank=args.rerank, filter_by_category=args.filter_category,
                                    keep_near_duplicates=args.keep_near_duplicates))
    try:
        response = recommend(args.target, request, args.timeout)
    except grpc.RpcError as err:
        print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
        return 2
    print(format_table(response, args.dimension_threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
