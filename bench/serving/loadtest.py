"""Gateway load test and index scale benchmark -> docs/results/gateway.{json,md}.

    python -m bench.serving.loadtest [--model-repository DIR] [--student DIR] --out docs/results

An asyncio gRPC client with bounded concurrency sends Recommend calls for real test-split
items for a fixed time per concurrency level; QPS, p50/p95/p99 and errors are counted on the
client, the per-stage split (tokenize+embed, search, re-rank) comes from the gateway's timings.
Then the index alone: search latency and recall@10 against exact search as keyphrases grow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

from bench.serving.fixtures import (
    build_index,
    ensure_model_repository,
    item_message,
    test_split_items,
)
from components.settings import artifacts_dir
from serving.gateway.stack import ServingStack
from serving.proto.kpdistill.v1 import recommender_pb2 as pb
from serving.proto.kpdistill.v1 import recommender_pb2_grpc as pb_grpc


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def load_level(target: str, requests: list[pb.RecommendRequest], concurrency: int,
                     duration_s: float, timeout_s: float = 10.0) -> dict:
    """``concurrency`` workers send calls back to back for ``duration_s`` seconds."""
    latencies: list[float] = []
    stages = {"embed": [], "search": [], "rerank": []}
    errors: dict[str, int] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.KeyphraseRecommenderStub(channel)
        await stub.Recommend(requests[0], timeout=timeout_s)  # warm the channel
        end = time.perf_counter() + duration_s
        counter = iter(range(10**9))

        async def worker():
            while time.perf_counter() < end:
                request = requests[next(counter) % len(requests)]
                t0 = time.perf_counter()
                try:
                    response = await stub.Recommend(request, timeout=timeout_s)
                except grpc.aio.AioRpcError as err:
                    errors[err.code().name] = errors.get(err.code().name, 0) + 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                stages["embed"].append(response.timings.embed_ms)
                stages["search"].append(response.timings.search_ms)
                stages["rerank"].append(response.timings.rerank_ms)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "concurrency": concurrency, "requests": len(latencies),
        "qps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1), "errors": sum(errors.values()),
        "error_codes": errors,
        "stage_mean_ms": {k: round(float(np.mean(v)), 2) if v else 0.0 for k, v in stages.items()},
    }


def index_scale_rows(student: Path, sizes: list[int], milvus_server: bool) -> list[dict]:
    from components.data import build_keyphrase_universe, load_judgments, load_wands_queries
    from components.indexing.bench import run_scale_bench
    from components.indexing.encoders import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(student)
    universe = build_keyphrase_universe(load_judgments(), load_wands_queries())
    real = encoder.encode([k.text for k in universe])
    items, _ = test_split_items(200)
    queries = encoder.encode([i.text() for i in items])
    if not milvus_server:
        return run_scale_bench(real, queries, sizes)
    from components.indexing.milvus_server import MilvusStandalone

    with tempfile.TemporaryDirectory(prefix="kpdistill-milvus-") as tmp, \
            MilvusStandalone(Path(tmp)) as milvus:
        return run_scale_bench(real, queries, sizes, milvus.uri)


def write_markdown(result: dict, path: Path) -> None:
    """The load test's tables; the CPU-bound section (from its start marker on: its generated
    tables and the notes after them) stays."""
    from bench.serving.cpu_bound import CPU_START

    old = path.read_text() if path.is_file() else ""
    kept = CPU_START + old.partition(CPU_START)[2] if CPU_START in old else ""
    lines = ["# Gateway load test", "",
             f"Command: `{result['command']}`  ", f"Machine: {result['machine']}  ",
             f"Index: {result['index_keyphrases']} real keyphrases (Milvus Lite, HNSW); "
             f"{result['items']} real test-split items; {result['duration_s']} s per level.", ""]
    for mode, runs in result["runs"].items():
        lines += [f"## {mode}", "",
                  "| concurrency | QPS | p50 ms | p95 ms | p99 ms | errors | embed ms | search ms | rerank ms |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in runs:
            s = r["stage_mean_ms"]
            lines.append(f"| {r['concurrency']} | {r['qps']} | {r['p50_ms']} | {r['p95_ms']} | "
                         f"{r['p99_ms']} | {r['errors']} | {s['embed']} | {s['search']} | "
                         f"{s['rerank']} |")
        lines.append("")
    lines += ["Stage times are the gateway's own per-call means (embed = tokenize + encode in "
              "Triton, round trip included).", "",
              "## Index search alone (single query, k=10, recall@10 vs exact numpy search)", "",
              "| backend | keyphrases | kind | p50 ms | p95 ms | recall@10 | build s |",
              "|---|---:|---|---:|---:|---:|---:|"]
    for r in result["index_scale"]:
        lines.append(f"| {r['backend']} | {r['keyphrases']} | {r['kind']} | {r['search_p50_ms']} "
                     f"| {r['search_p95_ms']} | {r['recall_at_10']} | {r['build_s']} |")
    lines += ["", "\"real+synthetic\": the real keyphrase embeddings plus SYNTHETIC ones "
              "(real embeddings perturbed with Gaussian noise, re-normalised) to reach the size.",
              ""]
    path.write_text("\n".join(lines) + ("\n" + kept if kept else ""))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-repository", type=Path, default=artifacts_dir() / "model_repository")
    p.add_argument("--student", type=Path, help="student the repository serves (default MiniLM)")
    p.add_argument("--out", type=Path, default=Path("docs/results"))
    p.add_argument("--concurrency", default="1,2,4,8,16,32")
    p.add_argument("--rerank-concurrency", default="1,4,16")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per level")
    p.add_argument("--index-sizes", default="630,10000,50000")
    p.add_argument("--milvus-server", action="store_true",
                   help="also measure the largest index size on a Milvus 2.3 server")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from components.models.pretrained import minilm_path

    student = args.student or minilm_path()
    work = Path(tempfile.mkdtemp(prefix="kpdistill-loadtest-"))
    repository = ensure_model_repository(args.model_repository, artifacts_dir() / "perf")
    index_uri = str(work / "index" / "keyphrases.db")
    build_index(student, index_uri, "loadtest")
    items, _ = test_split_items(200)
    plain = [pb.RecommendRequest(item=item_message(i), k=10) for i in items]
    reranked = [pb.RecommendRequest(item=item_message(i), k=10,
                                    options=pb.RecommendOptions(rerank=True, rerank_candidates=20))
                for i in items]
    runs: dict[str, list[dict]] = {"bi-encoder only": [], "with cross-encoder re-rank (20 candidates)": []}
    with ServingStack(repository, index_uri, log_dir=work / "logs") as stack:
        for c in [int(x) for x in args.concurrency.split(",")]:
            runs["bi-encoder only"].append(
                asyncio.run(load_level(stack.target, plain, c, args.duration)))
            print(json.dumps(runs["bi-encoder only"][-1]), flush=True)
        for c in [int(x) for x in args.rerank_concurrency.split(",") if x]:
            runs["with cross-encoder re-rank (20 candidates)"].append(
                asyncio.run(load_level(stack.target, reranked, c, args.duration)))
            print(json.dumps(runs["with cross-encoder re-rank (20 candidates)"][-1]), flush=True)
    sizes = [int(x) for x in args.index_sizes.split(",")]
    result = {
        "command": "python -m bench.serving.loadtest " + shlex.join(argv or sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU "
                   f"(Triton python-onnx backend on CPU)",
        "index_keyphrases": None, "items": len(items), "duration_s": args.duration,
        "runs": runs, "index_scale": index_scale_rows(student, sizes, args.milvus_server),
    }
    result["index_keyphrases"] = next((r["keyphrases"] for r in result["index_scale"]
                                       if r["kind"] == "real"), None)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gateway.json"
    kept = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**kept, **result}, indent=2) + "\n")  # keeps cpu.*, h200.*
    write_markdown(result, args.out / "gateway.md")
    print((args.out / "gateway.md").read_text())
    return result


if __name__ == "__main__":
    main()
