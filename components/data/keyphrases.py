"""The keyphrase universe: every phrase a seller could bid on.

ESCI queries (with human judgments for some items) plus WANDS queries (no labels for ESCI
items: they are distractors that make retrieval realistic), plus, optionally, phrases mined
from the catalogue (``components.data.mining``): what shoppers type for the kinds of products
ESCI lists, so that an item's nearest keyphrases can be about it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

from components.data.esci import Judgment
from components.data.wands import WandsQuery

_SPACES = re.compile(r"\s+")


def normalize_keyphrase(text: str) -> str:
    """Lower-case, NFKC, single spaces: two phrases that differ only in those are one."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Keyphrase:
    keyphrase_id: str
    text: str
    normalized: str
    source: str  # "esci", "wands" or "mined"
    keyphrase_class: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def build_keyphrase_universe(judgments: list[Judgment], wands: list[WandsQuery],
                             mined: list[Keyphrase] = ()) -> list[Keyphrase]:
    """ESCI queries first (id ``esci:<query_id>``), then WANDS (``wands:<query_id>``), then
    the ``mined`` keyphrases (``mined:<n>``) in their order.

    A WANDS query or mined phrase whose normalised text equals an earlier one is dropped (the
    ESCI one, which carries labels, is kept), so each normalised phrase appears once.
    """
    out: list[Keyphrase] = []
    seen: set[str] = set()
    esci = {}
    for j in judgments:
        esci.setdefault(j.query_id, j.query)
    for qid, text in sorted(esci.items()):
        norm = normalize_keyphrase(text)
        if norm in seen:
            continue
        seen.add(norm)
        out.append(Keyphrase(f"esci:{qid}", text, norm, "esci"))
    for q in wands:
        norm = normalize_keyphrase(q.query)
        if norm in seen:
            continue
        seen.add(norm)
        out.append(Keyphrase(f"wands:{q.query_id}", q.query, norm, "wands", q.query_class))
    for kp in mined:
        if kp.normalized not in seen:
            seen.add(kp.normalized)
            out.append(kp)
    return out
