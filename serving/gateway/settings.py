"""Gateway settings, read from the environment (prefix ``KPDISTILL_GATEWAY_``).

| variable | default | meaning |
| --- | --- | --- |
| ``KPDISTILL_GATEWAY_HOST`` | ``127.0.0.1`` | address the gRPC server binds |
| ``KPDISTILL_GATEWAY_PORT`` | ``50151`` | gRPC port (0 = any free port) |
| ``KPDISTILL_GATEWAY_METRICS_PORT`` | ``9464`` | Prometheus ``/metrics`` port on HOST (0 = any free, -1 = off) |
| ``KPDISTILL_GATEWAY_TRITON_URL`` | ``127.0.0.1:8001`` | Triton gRPC endpoint |
| ``KPDISTILL_GATEWAY_EMBED_MODEL`` | ``embed_text`` | Triton model that embeds a text |
| ``KPDISTILL_GATEWAY_SCORE_MODEL`` | ``score_pairs`` | Triton model that scores (item, keyphrase) |
| ``KPDISTILL_GATEWAY_MILVUS_URI`` | ``<artifacts>/index/keyphrases.db`` | Milvus Lite path or server URI |
| ``KPDISTILL_GATEWAY_INDEX_ALIAS`` | ``keyphrases`` | alias of the live keyphrase collection |
| ``KPDISTILL_GATEWAY_SEARCH_EF`` | ``96`` | HNSW ``ef`` at search time |
| ``KPDISTILL_GATEWAY_DEFAULT_K`` | ``10`` | keyphrases returned when a request sets k = 0 |
| ``KPDISTILL_GATEWAY_MAX_K`` | ``100`` | largest k accepted |
| ``KPDISTILL_GATEWAY_MAX_TITLE_CHARS`` | ``512`` | longest title accepted |
| ``KPDISTILL_GATEWAY_MAX_TEXT_CHARS`` | ``4096`` | longest brand/category/description accepted |
| ``KPDISTILL_GATEWAY_MAX_BATCH_ITEMS`` | ``64`` | most items in one BatchRecommend |
| ``KPDISTILL_GATEWAY_RERANK_CANDIDATES`` | ``50`` | candidates the cross-encoder re-ranks by default |
| ``KPDISTILL_GATEWAY_SEARCH_OVERFETCH`` | ``3`` | candidates fetched per wanted keyphrase (room for dedup/min_score) |
| ``KPDISTILL_GATEWAY_ITEM_FIELDS`` | ``title,brand,category`` | item fields joined into the text the models see |
| ``KPDISTILL_GATEWAY_MAX_RERANK_PAIRS`` | ``1000`` | most (item, candidate) pairs one call may re-rank, all items together |
| ``KPDISTILL_GATEWAY_BACKEND_TIMEOUT_S`` | ``5`` | longest wait for one Triton or Milvus call carrying one row |
| ``KPDISTILL_GATEWAY_BACKEND_TIMEOUT_PER_ROW_S`` | ``0.1`` | added to that wait for each further text or pair a Triton call carries |
| ``KPDISTILL_GATEWAY_TRITON_MAX_BATCH`` | ``256`` | most rows in one Triton request (lowered to the model's ``max_batch_size`` when it is smaller); longer inputs are split |
| ``KPDISTILL_GATEWAY_DEFAULT_DEADLINE_S`` | ``10`` | deadline of a call whose client set none |
| ``KPDISTILL_GATEWAY_INDEX_REFRESH_S`` | ``5`` | how often the live index version and backend health are re-read |
| ``KPDISTILL_GATEWAY_GRACE_S`` | ``10`` | on shutdown, how long in-flight calls may finish |
| ``KPDISTILL_GATEWAY_MAX_INFLIGHT_ROWS`` | ``32`` | admission control: rows (items + re-rank pairs) in flight at once; a call that does not fit is refused at once with RESOURCE_EXHAUSTED (a call is always admitted when nothing is in flight). Size it to throughput x acceptable queueing (well under BACKEND_TIMEOUT_S): ~13 rows/s on a 2-core CPU, so 32 rows queue ~2.5 s |
| ``KPDISTILL_GATEWAY_MAX_CONCURRENT_RPCS`` | ``4096`` | calls of any kind (health included) open at once; gRPC refuses more with RESOURCE_EXHAUSTED. A last resort against floods of connections: recommender calls are shed far earlier by MAX_INFLIGHT_ROWS, health checks never are |
| ``KPDISTILL_GATEWAY_LOG_EVERY_S`` | ``10`` | each kind of error is logged (one line) at most once per this many seconds, with a count of the suppressed ones |

Requests larger than :attr:`GatewaySettings.max_request_bytes` (what the largest valid
BatchRecommend needs, from MAX_BATCH_ITEMS and the text limits) are refused by gRPC itself with
RESOURCE_EXHAUSTED before they are read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from components.settings import artifacts_dir

PREFIX = "KPDISTILL_GATEWAY_"


def _default_milvus_uri() -> str:
    return str(artifacts_dir() / "index" / "keyphrases.db")


@dataclass(frozen=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 50151
    metrics_port: int = 9464
    triton_url: str = "127.0.0.1:8001"
    embed_model: str = "embed_text"
    score_model: str = "score_pairs"
    milvus_uri: str = field(default_factory=_default_milvus_uri)
    index_alias: str = "keyphrases"
    search_ef: int = 96
    default_k: int = 10
    max_k: int = 100
    max_title_chars: int = 512
    max_text_chars: int = 4096
    max_batch_items: int = 64
    rerank_candidates: int = 50
    search_overfetch: int = 3
    item_fields: tuple[str, ...] = ("title", "brand", "category")
    backend_timeout_s: float = 5.0
    default_deadline_s: float = 10.0
    index_refresh_s: float = 5.0
    grace_s: float = 10.0
    max_rerank_pairs: int = 1000
    backend_timeout_per_row_s: float = 0.1
    triton_max_batch: int = 256
    max_inflight_rows: int = 32
    max_concurrent_rpcs: int = 4096
    log_every_s: float = 10.0

    def __post_init__(self):
        if not 1 <= self.default_k <= self.max_k:
            raise ValueError("KPDISTILL_GATEWAY_DEFAULT_K must lie in 1..MAX_K")
        if min(self.max_batch_items, self.triton_max_batch, self.max_inflight_rows,
               self.max_concurrent_rpcs) < 1:
            raise ValueError("KPDISTILL_GATEWAY_MAX_BATCH_ITEMS, _TRITON_MAX_BATCH, "
                             "_MAX_INFLIGHT_ROWS and _MAX_CONCURRENT_RPCS must be >= 1")
        bad = set(self.item_fields) - {"title", "brand", "category", "description"}
        if bad:
            raise ValueError(f"KPDISTILL_GATEWAY_ITEM_FIELDS: unknown fields {sorted(bad)}")

    @property
    def max_request_bytes(self) -> int:
        """Bytes of the largest valid BatchRecommend: every item at its text limits, each
        character 4 bytes of UTF-8, plus field tags, lengths and options."""
        item = 4 * (self.max_title_chars + 4 * self.max_text_chars) + 128
        return self.max_batch_items * item + 1024

    def backend_timeout(self, rows: int) -> float:
        """The longest wait for one backend call carrying ``rows`` texts or pairs."""
        return self.backend_timeout_s + self.backend_timeout_per_row_s * max(rows - 1, 0)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> GatewaySettings:
        """Settings from ``KPDISTILL_GATEWAY_*`` variables; ``overrides`` win over both."""
        env = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        values.update(overrides)
        return cls(**values)


def _parse(name: str, raw: str, kind: str):
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        return raw
    except ValueError as err:
        raise ValueError(f"{PREFIX}{name.upper()}={raw!r}: expected {kind}") from err
