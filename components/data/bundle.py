"""The prepared data set that flows between pipeline steps as one Dataset directory.

Layout: ``items.jsonl.gz``, ``judgments.csv``, ``split.json``, ``keyphrases.jsonl`` and
``manifest.json`` (counts and the split report). ``DataBundle.load`` re-validates everything
through the same parsers as the raw files.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from components.contracts import (
    BUNDLE_MANIFEST_FILE,
    ITEMS_FILE,
    JUDGMENTS_FILE,
    KEYPHRASES_FILE,
    SPLIT_FILE,
    read_jsonl,
    write_jsonl_atomic,
)
from components.data.errors import DataError
from components.data.esci import (
    JUDGMENT_COLUMNS,
    Item,
    Judgment,
    check_coverage,
    load_items,
    load_judgments,
)
from components.data.keyphrases import Keyphrase, build_keyphrase_universe
from components.data.splits import QuerySplit, SplitConfig, overlap_report, split_queries
from components.data.wands import load_wands_queries


@dataclass
class DataBundle:
    items: dict[str, Item]
    judgments: list[Judgment]
    split: QuerySplit
    keyphrases: list[Keyphrase]

    @classmethod
    def from_raw(cls, root: Path | None = None, split_config: SplitConfig | None = None,
                 items_used: str = "judged", mined_keyphrases: int = 0,
                 max_queries: int = 0) -> DataBundle:
        """Read the raw ESCI/WANDS files; keep judged items only unless ``items_used='all'``.

        ``mined_keyphrases`` > 0 adds that many phrases mined from the items' titles, category
        leaves and bullet points (``components.data.mining``, most widely shared first) to the
        keyphrase universe; the ESCI query texts are never mined. ``max_queries`` > 0 keeps
        only the first that many queries (by id) and their judgments: a small, complete data
        set for tests of the whole pipeline."""
        judgments = load_judgments(root)
        if max_queries > 0:
            keep = set(sorted({j.query_id for j in judgments})[:max_queries])
            judgments = [j for j in judgments if j.query_id in keep]
        items = load_items(root)
        check_coverage(judgments, items)
        if items_used == "judged":
            judged = {j.item_id for j in judgments}
            items = {i: it for i, it in items.items() if i in judged}
        split = split_queries((j.query_id for j in judgments), split_config)
        mined = []
        if mined_keyphrases > 0:
            from components.data.mining import mined_universe

            mined = mined_universe(items, exclude={j.query for j in judgments},
                                   limit=mined_keyphrases)
        keyphrases = build_keyphrase_universe(judgments, load_wands_queries(root), mined)
        return cls(items, judgments, split, keyphrases)

    def judgments_in(self, split: str) -> list[Judgment]:
        keep = set(self.split.queries(split))
        return [j for j in self.judgments if j.query_id in keep]

    def manifest(self) -> dict:
        return {"items": len(self.items), "judgments": len(self.judgments),
                "keyphrases": len(self.keyphrases),
                "keyphrases_by_source": {s: sum(k.source == s for k in self.keyphrases)
                                         for s in ("esci", "wands", "mined")},
                "split": overlap_report(self.split, self.judgments)}

    def save(self, directory: Path | str) -> dict:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        with gzip.open(d / ITEMS_FILE, "wt", encoding="utf-8") as fh:
            for it in self.items.values():
                record = it.to_dict()
                record["product_id"] = record.pop("item_id")
                fh.write(json.dumps(record) + "\n")
        with open(d / JUDGMENTS_FILE, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(JUDGMENT_COLUMNS)
            for j in self.judgments:
                w.writerow([j.query_id, j.query, j.item_id, j.grade])
        (d / SPLIT_FILE).write_text(json.dumps(self.split.to_dict(), indent=1))
        write_jsonl_atomic(d / KEYPHRASES_FILE, (k.to_dict() for k in self.keyphrases))
        manifest = self.manifest()
        (d / BUNDLE_MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        return manifest

    @classmethod
    def load(cls, directory: Path | str) -> DataBundle:
        d = Path(directory)
        if not (d / BUNDLE_MANIFEST_FILE).is_file():
            raise DataError(d / BUNDLE_MANIFEST_FILE, "not a prepared data set (no manifest)")
        items = load_items(path=d / ITEMS_FILE)
        judgments = load_judgments(path=d / JUDGMENTS_FILE)
        split = QuerySplit.from_dict(json.loads((d / SPLIT_FILE).read_text()))
        keyphrases = read_jsonl(d / KEYPHRASES_FILE, lambda row: Keyphrase(**row),
                                lambda path, line, exc: DataError(path, str(exc), line=line))
        return cls(items, judgments, split, keyphrases)
