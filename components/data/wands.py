"""WANDS buyer queries (furniture and home goods), used as extra real keyphrases.

They carry no labels for ESCI items: distractors in the keyphrase universe, never truth.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from components.data.errors import DataError
from components.settings import data_dir

WANDS_COLUMNS = ("query_id", "query", "query_class")


@dataclass(frozen=True)
class WandsQuery:
    query_id: str
    query: str
    query_class: str


def load_wands_queries(root: Path | None = None, path: Path | None = None) -> list[WandsQuery]:
    path = path or (root or data_dir()) / "wands" / "queries.tsv"
    if not path.is_file():
        raise DataError(path, "file not found (set KPDISTILL_DATA_DIR or see docs/DATA.md)")
    out: list[WandsQuery] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != WANDS_COLUMNS:
            raise DataError(path, f"header must be {' '.join(WANDS_COLUMNS)}, got {header}",
                            line=1)
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 3:
                raise DataError(path, f"expected 3 tab-separated columns, got {len(row)}",
                                line=lineno)
            qid, query, qclass = (c.strip() for c in row)
            if not qid:
                raise DataError(path, "empty value", line=lineno, field="query_id")
            if not query:
                raise DataError(path, "empty value", line=lineno, field="query")
            out.append(WandsQuery(qid, query, qclass))
    if not out:
        raise DataError(path, "no queries")
    return out
