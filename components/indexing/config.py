"""Typed settings of the keyphrase index build, loadable from YAML (``index.yaml`` beside)."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path

from pydantic.dataclasses import dataclass

from components.config import STEP_CONFIG, load_yaml
from components.contracts import INDEX_DB_FILE, ITEM_FIELDS, is_local_uri
from components.settings import artifacts_dir

DEFAULT_YAML = Path(__file__).with_name("index.yaml")


@dataclass(frozen=True, config=STEP_CONFIG)
class IndexConfig:
    """How the keyphrase collection is laid out and indexed.

    uri: Milvus Lite local path (``*.db``) or a Milvus server URI (``http://host:port``);
        empty means ``<artifacts>/index/keyphrases.db``.
    alias: the name readers search; it points at the live versioned collection.
    index_type / metric_type / index_params: the vector index (HNSW + IP on normalised
        embeddings by default; both Milvus Lite 3 and Milvus 2.3 support it).
    search_params: the search-time parameters of that index (``ef`` for HNSW).
    scalar_index_types: scalar index kinds tried in order on ``category`` (Milvus Lite takes
        INVERTED, Milvus 2.3 Trie for strings); none accepted means filters scan.
    keep_versions: how many versioned collections stay (the live one included).
    embed_batch_size / insert_batch_size: bulk sizes for encoding and inserting.
    request_timeout_s: time-box for every index-building call (some index kinds block).
    item_fields: which item fields make the item text (the contract: title, brand, category).
    source_categories: category given to keyphrases of a source without a known category
        (WANDS is a home-goods store: its queries are filed under "Home & Kitchen").
    """

    uri: str = ""
    alias: str = "keyphrases"
    index_type: str = "HNSW"
    metric_type: str = "IP"
    index_params: dict = field(default_factory=lambda: {"M": 16, "efConstruction": 200})
    search_params: dict = field(default_factory=lambda: {"ef": 96})
    scalar_index_types: tuple[str, ...] = ("INVERTED", "Trie")
    keep_versions: int = 2
    embed_batch_size: int = 64
    insert_batch_size: int = 1000
    request_timeout_s: float = 120.0
    item_fields: tuple[str, ...] = ITEM_FIELDS
    source_categories: dict = field(default_factory=lambda: {"wands": "Home & Kitchen"})

    def __post_init__(self):
        if not self.alias.replace("_", "").isalnum() or not self.alias[0].isalpha():
            raise ValueError(f"alias {self.alias!r}: use letters, digits and '_', "
                             "starting with a letter")
        if self.keep_versions < 1:
            raise ValueError("keep_versions must be >= 1 (the live collection is kept)")
        if self.metric_type not in ("IP", "COSINE", "L2"):
            raise ValueError(f"metric_type {self.metric_type!r}: use IP, COSINE or L2")
        if self.uri and is_local_uri(self.uri) and not self.uri.endswith(".db"):
            raise ValueError(f"uri {self.uri!r}: a Milvus Lite path must end in .db "
                             "(a server URI starts with http://)")

    @property
    def resolved_uri(self) -> str:
        return self.uri or str(artifacts_dir() / "index" / INDEX_DB_FILE)

    @classmethod
    def from_yaml(cls, path: Path | str = DEFAULT_YAML, **overrides) -> IndexConfig:
        return load_yaml(cls, path, **overrides)
