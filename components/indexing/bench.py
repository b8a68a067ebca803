"""Index search latency and recall@10 against exact search, as the keyphrase count grows.

The real universe has ~630 keyphrases. Larger sizes add SYNTHETIC keyphrases: embeddings of
real keyphrases perturbed with Gaussian noise and re-normalised (labelled "synthetic" in the
results). Queries are real ESCI item embeddings. Exact search is a numpy inner product.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from components.indexing.config import IndexConfig
from components.indexing.store import IndexVersion, KeyphraseRecord, KeyphraseStore


def synthetic_universe(real: np.ndarray, size: int, noise: float = 0.35,
                       seed: int = 0) -> np.ndarray:
    """``real`` rows first, then perturbed copies of them up to ``size`` rows."""
    rng = np.random.default_rng(seed)
    extra = max(size - len(real), 0)
    base = real[rng.integers(0, len(real), extra)]
    noisy = base + rng.normal(0, noise / np.sqrt(real.shape[1]), base.shape).astype(np.float32)
    out = np.concatenate([real, noisy]).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def recall_at_k(found: list[list[str]], exact: list[list[str]], k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact,
                                                                          strict=True)]))


def measure(vectors: np.ndarray, queries: np.ndarray, config: IndexConfig,
            label: str, k: int = 10) -> dict:
    """Build an index of ``vectors`` at ``config.uri``; time single-query searches."""
    records = [KeyphraseRecord(f"kp{i}", f"kp {i}", f"kp {i}", label, "", "")
               for i in range(len(vectors))]
    store = KeyphraseStore(config)
    try:
        t0 = time.perf_counter()
        name = store.create_version("bench", vectors.shape[1])
        store.insert(name, records, vectors)
        store.finalize(name)
        store.publish(IndexVersion(name, "bench", vectors.shape[1], len(vectors), (), "", "IP"))
        build_s = time.perf_counter() - t0
        exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :k]
        exact_ids = [[f"kp{j}" for j in row] for row in exact]
        found, latencies = [], []
        for q in queries:
            t = time.perf_counter()
            hits = store.search(q[None, :], k)[0]
            latencies.append((time.perf_counter() - t) * 1000)
            found.append([h.get("keyphrase_id", h.get("id")) for h in hits])
        store.prune()
    finally:
        store.close()
    latencies.sort()
    return {"keyphrases": len(vectors), "kind": label, "index_type": config.index_type,
            "search_params": config.search_params, "build_s": round(build_s, 2),
            "queries": len(queries),
            "search_p50_ms": round(statistics.median(latencies), 2),
            "search_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            f"recall_at_{k}": round(recall_at_k(found, exact_ids, k), 4)}


def run_scale_bench(real: np.ndarray, queries: np.ndarray, sizes: list[int],
                    server_uri: str | None = None) -> list[dict]:
    """Lite at each size; the largest size again on a Milvus server when ``server_uri``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="kpdistill-index-bench-") as tmp:
        for size in sizes:
            vectors = synthetic_universe(real, size)
            label = "real" if size <= len(real) else "real+synthetic"
            uri = str(Path(tmp) / f"lite{size}.db")
            row = measure(vectors[:size], queries, IndexConfig(uri=uri, alias="bench"), label)
            rows.append({"backend": "milvus-lite 3.2.2", **row})
        if server_uri:
            vectors = synthetic_universe(real, sizes[-1])
            config = IndexConfig(uri=server_uri, alias="bench")
            rows.append({"backend": "milvus 2.3.5 standalone",
                         **measure(vectors, queries, config, "real+synthetic")})
    return rows
