"""Backends of gateway worker processes under test: the fake models and an in-memory index.

The pool pickles these factories by name into spawned workers; each worker's index
collection is named after its pid, so a response tells which worker answered.
"""

from __future__ import annotations

import os

from gateway_fakes import FakeModels, HashingEncoder, records

from components.contracts import IndexVersion
from serving.gateway.index_client import ExactTable


class MemorySearcher:
    """The test keyphrases embedded by the hashing encoder, searched exactly in memory."""

    def __init__(self):
        encoder, rows = HashingEncoder(), records()
        vectors = encoder.encode([r.text for r in rows])
        collection = f"kp_worker_{os.getpid()}"
        self.table = ExactTable(collection, [
            {"keyphrase_id": r.keyphrase_id, "embedding": v, "text": r.text,
             "normalized": r.normalized, "category": r.category, "source": r.source}
            for r, v in zip(rows, vectors, strict=True)])
        self.version = IndexVersion(collection, encoder.model_version, encoder.dim, len(rows),
                                    tuple(sorted({r.category for r in rows})), "", "IP")

    async def refresh(self, timeout_s: float = 5.0) -> IndexVersion:
        return self.version

    async def ensure_version(self, timeout_s: float) -> IndexVersion:
        return self.version

    async def search(self, vectors, limit, categories, timeout_s):
        return self.table.search(vectors, limit, categories)

    async def close(self) -> None:
        pass


def memory_backends():
    return FakeModels(), MemorySearcher()


def failing_backends():
    raise RuntimeError("backend set-up failed on purpose")
