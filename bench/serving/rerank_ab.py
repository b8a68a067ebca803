"""The gateway's two re-rank paths side by side on one Triton (issue #11).

    python -m bench.serving.rerank_ab [--model-repository DIR] [--pairs 20,50] [--calls 24]
                                      [--rounds 4] [--concurrency 1]

``gateway``: the pairs tokenized by the gateway's Triton client (the served pair tokenizer's
files and cap), ``cross_encoder`` called on the ids; ``triton``: the strings sent to the
``score_pairs`` ensemble (Python-backend ``pair_tokenizer``, then ``cross_encoder``). Real
pairs: a test-split item's text with as many ESCI queries as ``--pairs`` says, another item
every call. Bursts of ``--calls`` calls alternate between the paths (ABBA...), so both see the
same machine; per path and pair count: latency p50/p95/p99, calls/s, the CPU spent per call
by this process (the client: the ``gateway`` path's tokenizing is here) and by Triton's process
tree (its Python-backend stubs included), and Triton's own statistics per call of each model the
path ran (``pair_tokenizer``, ``cross_encoder``: queue and compute ms). Prints JSON; writes
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np

from bench.serving.cpu_time import cpu_seconds, load_text
from components.contracts import ITEM_FIELDS, item_text
from serving.gateway.triton_client import TritonModelClient

PATHS = ("gateway", "triton")
STAT_MODELS = ("pair_tokenizer", "cross_encoder")


async def _stats(client) -> dict[str, tuple[int, float, float]]:
    """Per model: (requests, queue ns, compute ns: input + infer + output) so far."""
    out = {}
    for model in STAT_MODELS:
        answer = await client.get_inference_statistics(model)
        stats = [s.inference_stats for s in answer.model_stats]
        out[model] = (sum(s.success.count for s in stats), sum(s.queue.ns for s in stats),
                      sum(s.compute_input.ns + s.compute_infer.ns + s.compute_output.ns
                          for s in stats))
    return out


def pair_sets(pairs: int, count: int) -> list[tuple[list[str], list[str]]]:
    """``count`` calls' (keyphrases, item texts): a test-split item each, ``pairs`` distinct
    ESCI queries with it (taken in turn from all of them)."""
    from bench.serving.fixtures import test_split_items

    items, judgments = test_split_items(count)
    queries = sorted({j.query for j in judgments})
    sets = []
    for i, item in enumerate(items):
        start = (i * pairs) % max(len(queries) - pairs, 1)
        sets.append((queries[start:start + pairs], [item_text(item, ITEM_FIELDS)] * pairs))
    return sets


async def _burst(client: TritonModelClient, sets, concurrency: int) -> list[float]:
    latencies: list[float] = []
    todo = iter(sets)

    async def worker():
        for keyphrases, texts in todo:
            t0 = time.perf_counter()
            await client.score_pairs(keyphrases, texts, timeout_s=60)
            latencies.append((time.perf_counter() - t0) * 1000)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def measure(url: str, repository: Path, pairs: list[int], calls: int, rounds: int,
                  concurrency: int = 1, triton_pid: int | None = None) -> dict:
    """Both paths against the Triton at ``url`` serving ``repository``, bursts alternating."""
    clients = {"gateway": TritonModelClient(url, pair_tokenizer_dir=str(repository
                                                                        / "pair_tokenizer")),
               "triton": TritonModelClient(url)}
    import tritonclient.grpc.aio as triton_aio

    stats_client = triton_aio.InferenceServerClient(url)
    out: dict = {"concurrency": concurrency, "calls_per_burst": calls, "rounds": rounds,
                 "pairs": {}}
    try:
        for n in pairs:
            sets = pair_sets(n, calls)
            for client in clients.values():  # warm: tokenizers loaded, batch shapes seen
                await _burst(client, sets[:4], concurrency)
            raw = {path: {"latencies": [], "seconds": 0.0, "client_cpu_s": 0.0,
                          "triton_cpu_s": 0.0, "calls": 0,
                          "models": {m: [0, 0.0, 0.0] for m in STAT_MODELS}} for path in PATHS}
            loads = []
            for r in range(rounds):
                for path in (PATHS if r % 2 == 0 else PATHS[::-1]):
                    stats0 = await _stats(stats_client)
                    cpu0, triton0 = time.process_time(), cpu_seconds(triton_pid or 0)
                    t0 = time.perf_counter()
                    latencies = await _burst(clients[path], sets, concurrency)
                    row = raw[path]
                    await asyncio.sleep(0.2)  # Triton counts a request just after answering it
                    stats1 = await _stats(stats_client)
                    for m in STAT_MODELS:
                        for k in range(3):
                            row["models"][m][k] += stats1[m][k] - stats0[m][k]
                    row["seconds"] += time.perf_counter() - t0
                    row["client_cpu_s"] += time.process_time() - cpu0
                    row["triton_cpu_s"] += cpu_seconds(triton_pid or 0) - triton0
                    row["latencies"] += latencies
                    row["calls"] += len(latencies)
                loads.append(load_text())
            out["pairs"][n] = {"load_average": loads, **{path: {
                "calls": row["calls"],
                "calls_per_s": round(row["calls"] / row["seconds"], 2),
                "p50_ms": round(float(np.percentile(row["latencies"], 50)), 1),
                "p95_ms": round(float(np.percentile(row["latencies"], 95)), 1),
                "p99_ms": round(float(np.percentile(row["latencies"], 99)), 1),
                "mean_ms": round(float(np.mean(row["latencies"])), 1),
                "client_cpu_ms_per_call": round(row["client_cpu_s"] * 1000 / row["calls"], 2),
                "triton_cpu_ms_per_call": (round(row["triton_cpu_s"] * 1000 / row["calls"], 2)
                                           if triton_pid else None),
                "triton_models_ms_per_call": {
                    m: {"requests_per_call": round(n / row["calls"], 2),
                        "queue_ms": round(queue / 1e6 / row["calls"], 2),
                        "compute_ms": round(compute / 1e6 / row["calls"], 2)}
                    for m, (n, queue, compute) in row["models"].items()},
            } for path, row in raw.items()}}
    finally:
        for client in (*clients.values(), stats_client):
            await client.close()
    return out


def main(argv: list[str] | None = None) -> dict:
    from bench.serving.fixtures import ensure_model_repository
    from components.settings import artifacts_dir
    from serving.triton.server import TritonServer

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-repository", type=Path, default=artifacts_dir() / "model_repository")
    p.add_argument("--pairs", default="20,50", help="pairs per call, one measurement each")
    p.add_argument("--calls", type=int, default=24, help="calls per burst")
    p.add_argument("--rounds", type=int, default=4, help="bursts per path (alternating)")
    p.add_argument("--concurrency", type=int, default=1, help="calls in flight per burst")
    args = p.parse_args(argv)
    repository = ensure_model_repository(args.model_repository, artifacts_dir() / "perf")
    triton = TritonServer(repository)
    try:
        triton.start().wait_ready(180)
        result = asyncio.run(measure(triton.grpc_url, repository,
                                     [int(x) for x in args.pairs.split(",") if x], args.calls,
                                     args.rounds, args.concurrency, triton.process.pid))
    finally:
        triton.stop()
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
