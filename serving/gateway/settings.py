"""Gateway settings, read from the environment (prefix ``KPDISTILL_GATEWAY_``).

Each setting is one field below, with its default and its meaning; the table of them in the
README is generated from this model (``python -m serving.gateway.settings --write README.md``)
and a test keeps the two in step.

Requests larger than :attr:`GatewaySettings.max_request_bytes` (what the largest valid
BatchRecommend needs, from MAX_BATCH_ITEMS and the text limits) are refused by gRPC itself with
RESOURCE_EXHAUSTED before they are read.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from components.contracts import (
    CROSS_ENCODER_MODEL,
    EMBED_MODEL,
    ENCODER_MODEL,
    INDEX_DB_FILE,
    ITEM_FIELDS,
    ITEM_TEXT_FIELDS,
    PAIR_TOKENIZER_MODEL,
    SCORE_MODEL,
    TOKENIZER_MODEL,
)
from components.settings import artifacts_dir

PREFIX = "KPDISTILL_GATEWAY_"
EXACT_MAX_ROWS_LIMIT = 16384
"""Milvus answers a query with at most this many rows (offset + limit)."""
TABLE_START = "<!-- gateway settings: generated from serving/gateway/settings.py -->"
TABLE_END = "<!-- end of gateway settings -->"


def _default_milvus_uri() -> str:
    return str(artifacts_dir() / "index" / INDEX_DB_FILE)


def _default_tokenizer_dir() -> str:
    return str(artifacts_dir() / "model_repository" / TOKENIZER_MODEL)


class GatewaySettings(BaseSettings):
    """The gateway's settings: ``KPDISTILL_GATEWAY_<NAME>`` variables, keyword arguments win.
    A bad value raises ValueError naming the variable."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="forbid",
                                      env_ignore_empty=True)

    host: str = Field("127.0.0.1", description="address the gRPC server binds")
    port: int = Field(50151, description="gRPC port (0 = any free port)")
    metrics_port: int = Field(9464, description=(
        "Prometheus `/metrics` port on HOST (0 = any free, -1 = off)"))
    triton_url: str = Field("127.0.0.1:8001", description="Triton gRPC endpoint")
    embed_model: str = Field(EMBED_MODEL, description="Triton model that embeds a text")
    tokenize: Literal["gateway", "triton"] = Field("gateway", description=(
        "where item texts and re-rank pairs are tokenized. `gateway`: here (Rust"
        " `tokenizers`, the files in TOKENIZER_DIR and PAIR_TOKENIZER_DIR, cut at the served"
        " tokenizers' `max_length` read from Triton, each request padded to its longest row),"
        " then ENCODER_MODEL and CROSS_ENCODER_MODEL are called on token ids; `triton`: the"
        " texts go to EMBED_MODEL and SCORE_MODEL (Triton's tokenizer + model ensembles)."
        " Same embeddings and scores; `gateway` saves a Python-backend hop per call"
        " (docs/results/gateway.md). A tokenizer folder that cannot be read keeps the"
        " gateway NOT_SERVING with the reason logged from start-up, never a silent fallback"))
    pad_to_multiple_of: int = Field(0, ge=0, le=4096, description=(
        "TOKENIZE=gateway: each request's token ids are padded to its longest row (0) or on"
        " up to the next multiple of this. Triton's dynamic batcher merges only requests of"
        " equal shape unless the model's inputs are ragged: the exported Python-backend"
        " encoders (python-onnx, python-torch) declare them so and need no padding here; for"
        " Triton's native onnxruntime or tensorrt targets set the served max_length (one"
        " shape), at the cost of computing the padding"))
    encoder_model: str = Field(ENCODER_MODEL, description=(
        "Triton model that embeds token ids (TOKENIZE=gateway)"))
    cross_encoder_model: str = Field(CROSS_ENCODER_MODEL, description=(
        "Triton model that scores the token ids of (keyphrase, item) pairs (TOKENIZE=gateway)"))
    tokenizer_dir: str = Field(
        default_factory=_default_tokenizer_dir, description=(
            "the served tokenizer's files (TOKENIZE=gateway): a folder holding"
            " `tokenizer.json`, or the repository's `tokenizer` model folder (its newest"
            " version's `tokenizer/` is read)"),
        json_schema_extra={"shown_default": f"<artifacts>/model_repository/{TOKENIZER_MODEL}"})
    pair_tokenizer_dir: str | None = Field(
        None, description=(
            "the served pair tokenizer's files (TOKENIZE=gateway, re-ranking): a folder holding"
            " `tokenizer.json`, or the repository's `pair_tokenizer` model folder (its newest"
            " version's `tokenizer/` is read); unset: the `pair_tokenizer` folder beside"
            " TOKENIZER_DIR"),
        json_schema_extra={"shown_default": f"<TOKENIZER_DIR>/../{PAIR_TOKENIZER_MODEL}"})
    score_model: str = Field(SCORE_MODEL, description="Triton model that scores (keyphrase, item)")
    milvus_uri: str = Field(
        default_factory=_default_milvus_uri, description="Milvus Lite path or server URI",
        json_schema_extra={"shown_default": f"<artifacts>/index/{INDEX_DB_FILE}"})
    index_alias: str = Field("keyphrases", description="alias of the live keyphrase collection")
    search_ef: int = Field(96, description="HNSW `ef` at search time")
    search_backend: Literal["milvus", "exact", "auto"] = Field("auto", description=(
        "`milvus`: every search goes to Milvus; `exact`: the live collection is held in the"
        " gateway's memory and searched exactly (inner product over every row, category"
        " filters applied), Milvus is read only when the alias moves; `auto`: exact while"
        " the live collection has at most EXACT_MAX_ROWS rows, else Milvus"))
    exact_max_rows: int = Field(16384, description=(
        "largest collection searched in memory (`exact` refuses a larger one: health turns"
        " NOT_SERVING; `auto` searches it in Milvus). At most 16384, Milvus' query window"))
    default_k: int = Field(10, description="keyphrases returned when a request sets k = 0")
    max_k: int = Field(100, description="largest k accepted")
    max_title_chars: int = Field(512, description="longest title accepted")
    max_text_chars: int = Field(4096, description="longest brand/category/description accepted")
    max_batch_items: int = Field(64, description="most items in one BatchRecommend")
    rerank_candidates: int = Field(50, description=(
        "candidates the cross-encoder re-ranks by default"))
    search_overfetch: int = Field(3, description=(
        "candidates fetched per wanted keyphrase (room for dedup/min_score)"))
    item_fields: Annotated[tuple[str, ...], NoDecode] = Field(ITEM_FIELDS, description=(
        "item fields joined into the text the models see"))
    backend_timeout_s: float = Field(5.0, description=(
        "longest wait for one Triton or Milvus call carrying one row"))
    default_deadline_s: float = Field(10.0, description="deadline of a call whose client set none")
    index_refresh_s: float = Field(5.0, description=(
        "how often the live index version and backend health are re-read"))
    grace_s: float = Field(10.0, description="on shutdown, how long in-flight calls may finish")
    max_rerank_pairs: int = Field(1000, description=(
        "most (item, candidate) pairs one call may re-rank, all items together"))
    backend_timeout_per_row_s: float = Field(0.1, description=(
        "added to BACKEND_TIMEOUT_S for each further text or pair a Triton call carries"))
    triton_max_batch: int = Field(256, description=(
        "most rows in one Triton request (lowered to the model's `max_batch_size` when it"
        " is smaller); longer inputs are split"))
    max_inflight_rows: int = Field(32, description=(
        "admission control: rows (items + re-rank pairs) in flight at once; a call that"
        " does not fit is refused at once with RESOURCE_EXHAUSTED (a call is always"
        " admitted when nothing is in flight). Size it to throughput x acceptable queueing"
        " (well under BACKEND_TIMEOUT_S): ~13 rows/s on a 2-core CPU, so 32 rows queue"
        " ~2.5 s"))
    max_concurrent_rpcs: int = Field(4096, description=(
        "calls of any kind (health included) open at once; gRPC refuses more with"
        " RESOURCE_EXHAUSTED. A last resort against floods of connections: recommender"
        " calls are shed far earlier by MAX_INFLIGHT_ROWS, health checks never are"))
    workers: int = Field(1, description=(
        "gateway processes serving PORT together (SO_REUSEPORT: the kernel spreads connections"
        " over them), each with its own Triton client and search backend; a parent starts,"
        " health-checks and restarts them (`--workers` on the command line wins). More than"
        " 1 needs a Milvus server URI (a Milvus Lite file opens in one process only); worker"
        " i serves metrics on METRICS_PORT + i"))
    log_every_s: float = Field(10.0, description=(
        "each kind of error is logged (one line) at most once per this many seconds, with"
        " a count of the suppressed ones"))

    def __init__(self, **values):
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ValueError("; ".join(_describe(e) for e in exc.errors())) from None

    @field_validator("item_fields", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @model_validator(mode="after")
    def _check(self) -> GatewaySettings:
        if not 1 <= self.default_k <= self.max_k:
            raise ValueError("KPDISTILL_GATEWAY_DEFAULT_K must lie in 1..MAX_K")
        if min(self.max_batch_items, self.triton_max_batch, self.max_inflight_rows,
               self.max_concurrent_rpcs) < 1:
            raise ValueError("KPDISTILL_GATEWAY_MAX_BATCH_ITEMS, _TRITON_MAX_BATCH, "
                             "_MAX_INFLIGHT_ROWS and _MAX_CONCURRENT_RPCS must be >= 1")
        if self.workers < 1:
            raise ValueError("KPDISTILL_GATEWAY_WORKERS must be >= 1")
        if not 1 <= self.exact_max_rows <= EXACT_MAX_ROWS_LIMIT:
            raise ValueError(f"KPDISTILL_GATEWAY_EXACT_MAX_ROWS must lie in "
                             f"1..{EXACT_MAX_ROWS_LIMIT}")
        bad = set(self.item_fields) - ITEM_TEXT_FIELDS
        if bad:
            raise ValueError(f"KPDISTILL_GATEWAY_ITEM_FIELDS: unknown fields {sorted(bad)}")
        return self

    @property
    def pair_tokenizer_path(self) -> str:
        """PAIR_TOKENIZER_DIR, or the ``pair_tokenizer`` folder beside TOKENIZER_DIR."""
        return self.pair_tokenizer_dir or str(Path(self.tokenizer_dir).parent
                                              / PAIR_TOKENIZER_MODEL)

    @property
    def max_request_bytes(self) -> int:
        """Bytes of the largest valid BatchRecommend: every item at its text limits, each
        character 4 bytes of UTF-8, plus field tags, lengths and options."""
        item = 4 * (self.max_title_chars + 4 * self.max_text_chars) + 128
        return self.max_batch_items * item + 1024

    def backend_timeout(self, rows: int) -> float:
        """The longest wait for one backend call carrying ``rows`` texts or pairs."""
        return self.backend_timeout_s + self.backend_timeout_per_row_s * max(rows - 1, 0)


def _describe(error: dict) -> str:
    if not error["loc"]:
        return str(error["msg"]).removeprefix("Value error, ")
    name = f"{PREFIX}{str(error['loc'][0]).upper()}"
    return f"{name}={error.get('input')!r}: {error['msg']}"


def _shown_default(field) -> str:
    extra = field.json_schema_extra or {}
    if "shown_default" in extra:
        return str(extra["shown_default"])
    default = field.default
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return f"{default:g}" if isinstance(default, float) else str(default)


def settings_table() -> str:
    """The Markdown table of every setting: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in GatewaySettings.model_fields.items():
        rows.append(f"| `{PREFIX}{name.upper()}` | `{_shown_default(field)}` | "
                    f"{field.description} |")
    return "\n".join(rows)


def with_table(text: str) -> str:
    """``text`` with the block between TABLE_START and TABLE_END replaced by the table."""
    head, start, rest = text.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not start or not end:
        raise ValueError(f"no {TABLE_START} ... {TABLE_END} block to fill")
    return f"{head}{TABLE_START}\n{settings_table()}\n{TABLE_END}{tail}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the gateway settings table, or "
                                     "write it into a Markdown file between its markers.")
    parser.add_argument("--write", type=Path, help="e.g. README.md")
    args = parser.parse_args(argv)
    if args.write is None:
        print(settings_table())
        return
    args.write.write_text(with_table(args.write.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
