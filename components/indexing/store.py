"""The keyphrase collections in Milvus: one collection per build, published behind an alias.

Readers always search the alias. A build writes a fresh collection, indexes and loads it,
records it in the ``<alias>_versions`` manifest collection, and only then moves the alias
(``create_alias`` the first time, ``alter_alias`` after): readers never see a half-built index.
The same code runs on Milvus Lite (a local ``.db`` path) and on a Milvus server (a URI).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from components.contracts import (
    INDEX_OUTPUT_FIELDS,
    IndexVersion,
    category_filter,
    is_local_uri,
    manifest_collection,
    version_from_row,
)
from components.indexing.config import IndexConfig

log = logging.getLogger(__name__)

_expected = threading.local()


class _ExpectedFailures(logging.Filter):
    """Drops pymilvus's ERROR record (with its traceback) of a call this thread made inside
    :func:`expected_failure`: the store handles that error itself (an alias not made yet, a
    scalar index type an older server refuses) and says so at its own level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_expected, "active", False)


logging.getLogger("pymilvus.decorators").addFilter(_ExpectedFailures())


@contextlib.contextmanager
def expected_failure():
    """Calls whose MilvusException the caller handles: pymilvus does not log it as an error."""
    _expected.active = True
    try:
        yield
    finally:
        _expected.active = False

TEXT_MAX = 512
CATEGORY_MAX = 256
CATEGORIES_JSON_MAX = 16384
MANIFEST_VECTOR_DIM = 2  # Milvus needs a vector field in every collection


@dataclass(frozen=True)
class KeyphraseRecord:
    """One row of the index (the embedding travels beside it)."""

    keyphrase_id: str
    text: str
    normalized: str
    source: str
    keyphrase_class: str
    category: str


def connect(uri: str, timeout_s: float = 30.0) -> MilvusClient:
    """A client for Milvus Lite (path; parent folder created) or a Milvus server (URI)."""
    if is_local_uri(uri):
        from pathlib import Path

        Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return MilvusClient(uri=uri, timeout=timeout_s)


def version_collection_name(alias: str, model_version: str) -> str:
    """``<alias>_<model_version>_<UTC timestamp with ms>``, reduced to Milvus' name charset."""
    safe = re.sub(r"[^0-9A-Za-z_]", "_", model_version).strip("_")[:64] or "model"
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"{int(time.time() * 1000) % 1000:03d}"
    return f"{alias}_{safe}_{stamp}"


class KeyphraseStore:
    """Build-side operations on the versioned keyphrase collections behind one alias."""

    def __init__(self, config: IndexConfig, client: MilvusClient | None = None):
        self.config = config
        self.client = client or connect(config.resolved_uri, config.request_timeout_s)
        self.manifest_name = manifest_collection(config.alias)
        self._loaded: set[str] = set()

    # --- schema -------------------------------------------------------------------------
    def _keyphrase_schema(self, dim: int):
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("keyphrase_id", DataType.VARCHAR, is_primary=True, max_length=128)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("normalized", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("source", DataType.VARCHAR, max_length=32)
        schema.add_field("keyphrase_class", DataType.VARCHAR, max_length=CATEGORY_MAX)
        schema.add_field("category", DataType.VARCHAR, max_length=CATEGORY_MAX)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
        return schema

    def _ensure_manifest(self) -> None:
        if self.client.has_collection(self.manifest_name):
            self.client.load_collection(self.manifest_name, timeout=self.config.request_timeout_s)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("collection", DataType.VARCHAR, is_primary=True, max_length=255)
        schema.add_field("model_version", DataType.VARCHAR, max_length=255)
        schema.add_field("dim", DataType.INT64)
        schema.add_field("count", DataType.INT64)
        schema.add_field("categories", DataType.VARCHAR, max_length=CATEGORIES_JSON_MAX)
        schema.add_field("created_at", DataType.VARCHAR, max_length=64)
        schema.add_field("metric_type", DataType.VARCHAR, max_length=16)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=MANIFEST_VECTOR_DIM)
        index = self.client.prepare_index_params()
        index.add_index("vec", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.manifest_name, schema=schema, index_params=index,
                                      timeout=self.config.request_timeout_s)
        self.client.load_collection(self.manifest_name, timeout=self.config.request_timeout_s)

    # --- build ----------------------------------------------------------------------------
    def create_version(self, model_version: str, dim: int) -> str:
        """A new, empty, unindexed collection for one build; returns its name."""
        name = version_collection_name(self.config.alias, model_version)
        self.client.create_collection(name, schema=self._keyphrase_schema(dim),
                                      timeout=self.config.request_timeout_s)
        return name

    def insert(self, collection: str, records: list[KeyphraseRecord],
               embeddings: np.ndarray) -> int:
        if len(records) != len(embeddings):
            raise ValueError(f"{len(records)} keyphrases but {len(embeddings)} embeddings")
        step = self.config.insert_batch_size
        for start in range(0, len(records), step):
            rows = [
                {**r.__dict__, "embedding": e.astype(np.float32).tolist()}
                for r, e in zip(records[start:start + step], embeddings[start:start + step],
                                strict=True)
            ]
            self.client.insert(collection, rows, timeout=self.config.request_timeout_s)
        return len(records)

    def _vector_index(self):
        """This config's index on the ``embedding`` field (type, metric, build parameters)."""
        vector = self.client.prepare_index_params()
        vector.add_index("embedding", index_type=self.config.index_type,
                         metric_type=self.config.metric_type, params=self.config.index_params)
        return vector

    def finalize(self, collection: str) -> None:
        """Flush, build the vector (and a scalar) index, load: ready to be searched."""
        timeout = self.config.request_timeout_s
        self.client.flush(collection, timeout=timeout)
        self.client.create_index(collection, self._vector_index(), timeout=timeout)
        for kind in self.config.scalar_index_types:
            scalar = self.client.prepare_index_params()
            scalar.add_index("category", index_type=kind)
            try:
                with expected_failure():
                    self.client.create_index(collection, scalar, timeout=timeout)
                break
            except MilvusException as err:
                log.info("scalar index %s on category refused (%s); trying the next", kind, err)
        self.client.load_collection(collection, timeout=timeout)

    def reindex(self, collection: str, expected_rows: int, timeout_s: float) -> dict:
        """Replace ``collection``'s vector index with this config's (release, drop, create),
        wait until the server reports all ``expected_rows`` indexed, then load it. A Milvus
        server builds indexes asynchronously: ``create_index`` returns before the build ends.
        Raises TimeoutError when that takes longer than ``timeout_s`` (the rest of the build
        keeps running on the server). Returns ``{index_build_s, load_s}``."""
        deadline = time.monotonic() + timeout_s
        timeout = self.config.request_timeout_s
        self.client.release_collection(collection, timeout=timeout)
        self._loaded.discard(collection)
        for name in self.client.list_indexes(collection, field_name="embedding"):
            self.client.drop_index(collection, name, timeout=timeout)
        started = time.perf_counter()
        self.client.create_index(collection, self._vector_index(), timeout=max(timeout_s, 1.0),
                                 sync=False)
        self.wait_indexed(collection, expected_rows, deadline)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        self.client.load_collection(collection, timeout=timeout)
        self._loaded.add(collection)
        return {"index_build_s": round(build_s, 2),
                "load_s": round(time.perf_counter() - started, 2)}

    def wait_indexed(self, collection: str, expected_rows: int, deadline: float,
                     poll_s: float = 0.5) -> dict:
        """Poll ``describe_index`` until ``indexed_rows`` reaches ``expected_rows`` with no
        rows pending (``deadline``: a ``time.monotonic()`` value); the last description."""
        names = self.client.list_indexes(collection, field_name="embedding") or ["embedding"]
        while True:
            info = self.client.describe_index(collection, names[0]) or {}
            indexed = int(info.get("indexed_rows", 0))
            pending = int(info.get("pending_index_rows", 0))
            if info.get("state") == "Failed":
                raise RuntimeError(f"index build of {collection} failed: {info}")
            if indexed >= expected_rows and pending == 0:
                return info
            if time.monotonic() > deadline:
                raise TimeoutError(f"{indexed:,} of {expected_rows:,} rows indexed, "
                                   f"{pending:,} pending, state {info.get('state')}")
            time.sleep(poll_s)

    def publish(self, version: IndexVersion) -> None:
        """Record the build in the manifest, then point the alias at it (one atomic call)."""
        self._ensure_manifest()
        self.client.upsert(self.manifest_name, [{
            "collection": version.collection, "model_version": version.model_version,
            "dim": version.dim, "count": version.count,
            "categories": json.dumps(list(version.categories)),
            "created_at": version.created_at, "metric_type": version.metric_type,
            "vec": [0.0] * MANIFEST_VECTOR_DIM,
        }], timeout=self.config.request_timeout_s)
        self.client.flush(self.manifest_name)
        if self.live_collection() is None:
            self.client.create_alias(version.collection, self.config.alias)
        else:
            self.client.alter_alias(version.collection, self.config.alias)

    def prune(self) -> list[str]:
        """Drop all but the newest ``keep_versions`` builds (never the live one)."""
        live = self.live_collection()
        prefix = f"{self.config.alias}_"
        builds = sorted(
            (n for n in self.client.list_collections()
             if n.startswith(prefix) and n != self.manifest_name),
            key=lambda n: n.rsplit("_", 1)[-1], reverse=True)
        dropped = [n for n in builds[self.config.keep_versions:] if n != live]
        for name in dropped:
            self.client.drop_collection(name)
        if dropped and self.client.has_collection(self.manifest_name):
            ids = ", ".join(json.dumps(n) for n in dropped)
            self.client.delete(self.manifest_name, filter=f"collection in [{ids}]")
        return dropped

    # --- read -----------------------------------------------------------------------------
    def live_collection(self) -> str | None:
        """The collection the alias points at, or None before the first publish."""
        try:
            with expected_failure():
                return self.client.describe_alias(self.config.alias).get("collection_name")
        except MilvusException:
            return None

    def live_version(self) -> IndexVersion | None:
        name = self.live_collection()
        if name is None or not self.client.has_collection(self.manifest_name):
            return None
        self.client.load_collection(self.manifest_name)
        rows = self.client.query(self.manifest_name, filter=f"collection == {json.dumps(name)}",
                                 output_fields=["*"])
        return version_from_row(rows[0]) if rows else None

    def search(self, vectors: np.ndarray, limit: int, category: str | None = None,
               collection: str | None = None) -> list[list[dict]]:
        """Nearest keyphrases for each vector (rows of ``{keyphrase_id, distance, entity}``)."""
        target = collection or self.live_collection() or self.config.alias
        if target not in self._loaded:  # a reopened Lite/server collection starts released
            self.client.load_collection(target, timeout=self.config.request_timeout_s)
            self._loaded.add(target)
        result = self.client.search(
            target, data=[v.astype(np.float32).tolist() for v in vectors],
            limit=limit, filter=category_filter(category), output_fields=INDEX_OUTPUT_FIELDS,
            search_params={"metric_type": self.config.metric_type,
                           "params": self.config.search_params})
        return [list(hits) for hits in result]

    def close(self) -> None:
        """Close the client; for Milvus Lite also stop this process's in-process server so
        another process (the gateway) can open the ``.db`` (Lite holds a file lock)."""
        self.client.close()
        if is_local_uri(self.config.resolved_uri):
            release_lite(self.config.resolved_uri)


def release_lite(uri: str) -> None:
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(uri)


