"""Async Milvus search of the live keyphrase collection (through its alias)."""

from __future__ import annotations

import asyncio
import json
import logging

import grpc
import numpy as np
from pymilvus import AsyncMilvusClient
from pymilvus.exceptions import MilvusException

from components.contracts import (
    INDEX_OUTPUT_FIELDS,
    IndexVersion,
    category_filter,
    manifest_collection,
    version_from_row,
)
from serving.gateway.domain import BackendUnavailable, Candidate

log = logging.getLogger(__name__)


class KeyphraseSearcher:
    """Searches ``alias``; knows the live version (model, categories) from the manifest."""

    def __init__(self, uri: str, alias: str, search_ef: int = 96, metric_type: str = "IP"):
        self.uri = uri
        self.alias = alias
        self.search_params = {"metric_type": metric_type, "params": {"ef": search_ef}}
        self.version: IndexVersion | None = None
        self._client: AsyncMilvusClient | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> AsyncMilvusClient:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = AsyncMilvusClient(uri=self.uri)
        return self._client

    async def refresh(self, timeout_s: float = 5.0) -> IndexVersion:
        """Re-read which collection the alias points at, load it, and read its manifest row."""
        try:
            client = await self._connected()
            described = await client.describe_alias(self.alias, timeout=timeout_s)
            collection = described["collection_name"]
            manifest = manifest_collection(self.alias)
            await client.load_collection(manifest, timeout=timeout_s)
            rows = await client.query(manifest, filter=f"collection == {json.dumps(collection)}",
                                      output_fields=["*"], timeout=timeout_s)
            if not rows:
                raise BackendUnavailable("milvus", f"alias {self.alias} points at {collection}, "
                                         "which the manifest does not list")
            await client.load_collection(collection, timeout=timeout_s)
        except MilvusException as err:
            raise BackendUnavailable("milvus", f"index {self.alias!r} at {self.uri}: "
                                     f"{err.message if hasattr(err, 'message') else err}") from err
        except (TimeoutError, OSError, ConnectionError, grpc.RpcError) as err:
            raise BackendUnavailable("milvus", f"{self.uri}: {err!r}") from err
        self.version = version_from_row(rows[0])
        return self.version

    async def ensure_version(self, timeout_s: float) -> IndexVersion:
        """The live version, read on first use (or after the index was unreachable)."""
        return self.version if self.version is not None else await self.refresh(timeout_s)

    async def search(self, vectors: np.ndarray, limit: int, categories: list[str | None],
                     timeout_s: float) -> list[list[Candidate]]:
        """Nearest keyphrases per vector; one Milvus call per distinct category filter."""
        groups: dict[str | None, list[int]] = {}
        for row, category in enumerate(categories):
            groups.setdefault(category, []).append(row)
        results: list[list[Candidate]] = [[] for _ in categories]
        calls = [self._search_group(vectors[rows], limit, category, timeout_s)
                 for category, rows in groups.items()]
        for rows, hits in zip(groups.values(), await asyncio.gather(*calls), strict=True):
            for row, row_hits in zip(rows, hits, strict=True):
                results[row] = row_hits
        return results

    async def _search_group(self, vectors: np.ndarray, limit: int, category: str | None,
                            timeout_s: float) -> list[list[Candidate]]:
        try:
            client = await self._connected()
            result = await client.search(
                self.alias, data=[v.astype(np.float32).tolist() for v in vectors], limit=limit,
                filter=category_filter(category), output_fields=INDEX_OUTPUT_FIELDS,
                search_params=self.search_params, timeout=max(timeout_s, 0.001))
        except MilvusException as err:
            raise BackendUnavailable("milvus", f"search of {self.alias!r} at {self.uri} failed: "
                                     f"{getattr(err, 'message', err)}") from err
        except (TimeoutError, OSError, ConnectionError, grpc.RpcError) as err:
            raise BackendUnavailable("milvus", f"{self.uri}: {err!r}") from err
        return [[_candidate(hit) for hit in hits] for hits in result]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _candidate(hit: dict) -> Candidate:
    entity = hit.get("entity", hit)
    return Candidate(
        keyphrase_id=str(hit.get("keyphrase_id", hit.get("id"))), text=entity["text"],
        normalized=entity["normalized"], category=entity["category"], source=entity["source"],
        bi_encoder_score=float(hit["distance"]))


class ExactTable:
    """One collection's rows in memory: unit-length vectors and their scalar fields."""

    def __init__(self, collection: str, rows: list[dict]):
        self.collection = collection
        self.vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        self.candidates = [_candidate({**r, "distance": 0.0}) for r in rows]
        self.categories = np.asarray([r["category"] for r in rows], dtype=object)

    def __len__(self) -> int:
        return len(self.candidates)

    def search(self, vectors: np.ndarray, limit: int,
               categories: list[str | None]) -> list[list[Candidate]]:
        """Exact inner-product top ``limit`` per vector; ties broken by row order."""
        scores = np.asarray(vectors, dtype=np.float32) @ self.vectors.T
        out = []
        for row, category in zip(scores, categories, strict=True):
            if category:
                row = np.where(self.categories == category, row, -np.inf)
            k = min(limit, len(row))
            top = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
            top = top[np.lexsort((top, -row[top]))]
            hits = []
            for i in top:
                if not np.isfinite(row[i]):
                    break
                c = self.candidates[i]
                hits.append(Candidate(c.keyphrase_id, c.text, c.normalized, c.category,
                                      c.source, float(row[i])))
            out.append(hits)
        return out


class ExactKeyphraseSearcher(KeyphraseSearcher):
    """The live collection held in memory and searched exactly, for small universes.

    Milvus stays the source of truth: every refresh re-reads the alias and the manifest, and a
    new live collection is read in whole (vectors and fields) before searches switch to it.
    ``mode="auto"`` searches in Milvus instead while the live collection has more than
    ``max_rows`` rows; ``mode="exact"`` refuses such a collection (BackendUnavailable).
    """

    def __init__(self, uri: str, alias: str, max_rows: int, mode: str = "exact",
                 search_ef: int = 96, metric_type: str = "IP"):
        if mode not in ("exact", "auto"):
            raise ValueError(f"mode must be exact or auto, got {mode!r}")
        if metric_type != "IP":
            raise ValueError("exact search serves inner-product (unit-vector) indexes only")
        super().__init__(uri, alias, search_ef, metric_type)
        self.max_rows = max_rows
        self.mode = mode
        self.table: ExactTable | None = None

    async def refresh(self, timeout_s: float = 5.0) -> IndexVersion:
        previous = self.version
        version = await super().refresh(timeout_s)
        if self.table is not None and self.table.collection == version.collection:
            return version
        if self.table is not None:
            self.version = previous  # answers keep naming the table they come from
        if version.count > self.max_rows:
            self.table = None
            if self.mode == "exact":
                self.version = None
                raise BackendUnavailable("milvus", f"collection {version.collection} has "
                                         f"{version.count} rows; exact search holds at most "
                                         f"{self.max_rows} (raise EXACT_MAX_ROWS or set "
                                         "SEARCH_BACKEND=milvus)")
            log.info("%s: %d rows > %d, searched in Milvus", version.collection,
                     version.count, self.max_rows)
            return version
        try:
            client = await self._connected()
            rows = await client.query(version.collection, filter="",
                                      output_fields=["keyphrase_id", "embedding",
                                                     *INDEX_OUTPUT_FIELDS],
                                      limit=max(version.count, 1), timeout=timeout_s)
        except MilvusException as err:
            raise BackendUnavailable("milvus", f"reading {version.collection} at {self.uri}: "
                                     f"{getattr(err, 'message', err)}") from err
        except (TimeoutError, OSError, ConnectionError, grpc.RpcError) as err:
            raise BackendUnavailable("milvus", f"{self.uri}: {err!r}") from err
        if len(rows) != version.count:
            raise BackendUnavailable("milvus", f"{version.collection}: read {len(rows)} rows, "
                                     f"the manifest says {version.count}")
        self.table, self.version = ExactTable(version.collection, rows), version
        log.info("%s: %d rows held in memory for exact search", version.collection, len(rows))
        return version

    async def search(self, vectors: np.ndarray, limit: int, categories: list[str | None],
                     timeout_s: float) -> list[list[Candidate]]:
        table = self.table
        if table is None:
            return await super().search(vectors, limit, categories, timeout_s)
        return table.search(vectors, limit, categories)
