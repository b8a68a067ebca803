"""Keyphrase index: embed the keyphrase universe and publish it to Milvus behind an alias."""

from components.indexing.builder import IndexManifest, build_keyphrase_index
from components.indexing.categories import keyphrase_categories, top_level_category
from components.indexing.config import IndexConfig
from components.indexing.store import IndexVersion, KeyphraseRecord, KeyphraseStore

__all__ = [
    "IndexConfig",
    "IndexManifest",
    "IndexVersion",
    "KeyphraseRecord",
    "KeyphraseStore",
    "build_keyphrase_index",
    "keyphrase_categories",
    "top_level_category",
]
