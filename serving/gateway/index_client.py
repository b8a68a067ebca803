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
