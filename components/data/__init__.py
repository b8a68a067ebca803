"""Typed loaders for the relevance data, the query split and the keyphrase universe."""

from components.data.errors import DataError
from components.data.esci import GRADES, Item, Judgment, load_items, load_judgments
from components.data.keyphrases import Keyphrase, build_keyphrase_universe, normalize_keyphrase
from components.data.splits import QuerySplit, split_queries
from components.data.wands import WandsQuery, load_wands_queries

__all__ = [
    "GRADES",
    "DataError",
    "Item",
    "Judgment",
    "Keyphrase",
    "QuerySplit",
    "WandsQuery",
    "build_keyphrase_universe",
    "load_items",
    "load_judgments",
    "load_wands_queries",
    "normalize_keyphrase",
    "split_queries",
]
