"""The gateway's two embedding paths side by side on one Triton (``cpu_bound --ab-rounds N``).

A run of one path after the other cannot separate paths whose CPU cost differs by a few
percent on a shared machine whose load moves more than that within minutes; alternating short
bursts between two gateways on the same Triton (ABBA...) lets both see the same machine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from bench.serving.cpu_time import cpu_seconds, load_text
from bench.serving.loadtest import load_level


def tokenize_ab(repository: Path, index_uri: str, requests, concurrency: int, seconds: float,
                rounds: int, work: Path) -> dict:
    """Both embedding paths against one Triton, a gateway each (each on its own copy of the
    index), load bursts alternating between them (ABBA...) so both see the same machine:
    QPS and CPU ms per call of each gateway and of Triton's process tree."""
    import shutil

    from serving.gateway.stack import GatewayProcess
    from serving.triton.server import TritonServer

    paths = ("gateway", "triton")
    triton = TritonServer(repository, log_file=work / "ab-triton.log")
    gateways = {}
    try:
        triton.start().wait_ready(180)
        for path in paths:
            index = work / f"ab-index-{path}"
            shutil.copytree(Path(index_uri).parent, index)
            gateways[path] = GatewayProcess(
                work / f"ab-gateway-{path}.log", triton_url=triton.grpc_url,
                milvus_uri=str(index / Path(index_uri).name), tokenize=path,
                tokenizer_dir=str(repository / "tokenizer")).start(120)
        for g in gateways.values():  # warm
            asyncio.run(load_level(g.target, requests, concurrency, 2))
        bursts = {path: [] for path in paths}
        for r in range(rounds):
            for path in (paths if r % 2 == 0 else paths[::-1]):
                g = gateways[path]
                before = (cpu_seconds(g.process.pid), cpu_seconds(triton.process.pid))
                row = asyncio.run(load_level(g.target, requests, concurrency, seconds))
                calls = max(row["requests"], 1)
                bursts[path].append({
                    "qps": row["qps"], "errors": row["errors"],
                    "gateway_cpu_ms_per_call": round(
                        (cpu_seconds(g.process.pid) - before[0]) * 1000 / calls, 2),
                    "triton_cpu_ms_per_call": round(
                        (cpu_seconds(triton.process.pid) - before[1]) * 1000 / calls, 2),
                    "load_average": load_text()})
                print(f"  A/B round {r}, tokenized in the {path}: {bursts[path][-1]}",
                      flush=True)
    finally:
        for g in gateways.values():
            g.stop()
        triton.stop()
    summary = {}
    for path, rows in bursts.items():
        mean = {k: round(float(np.mean([b[k] for b in rows])), 2)
                for k in ("qps", "gateway_cpu_ms_per_call", "triton_cpu_ms_per_call")}
        mean["stack_cpu_ms_per_call"] = round(mean["gateway_cpu_ms_per_call"]
                                              + mean["triton_cpu_ms_per_call"], 2)
        summary[path] = {"mean": mean, "bursts": rows}
    return {"concurrency": concurrency, "seconds_per_burst": seconds, "rounds": rounds,
            "paths": summary}
