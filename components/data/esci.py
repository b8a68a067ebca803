"""ESCI items (products) and human judgments.

Files (see docs/DATA.md): ``esci/judgments.csv`` with columns
``query_id,query,product_id,label`` (label in E/S/C/I) and ``esci/products.jsonl.gz``,
one product a line.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from components.contracts import ITEM_FIELDS, ITEM_TEXT_MAX_CHARS, item_text
from components.data.errors import DataError
from components.settings import data_dir

GRADES: tuple[str, ...] = ("E", "S", "C", "I")
"""ESCI grades: exact, substitute, complement, irrelevant."""

ESCI_GAINS: dict[str, float] = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}
RELEVANT_GRADES = frozenset({"E", "S"})

JUDGMENT_COLUMNS = ("query_id", "query", "product_id", "label")


@dataclass(frozen=True)
class Item:
    """An e-commerce item (an ESCI product) as the seller lists it."""

    item_id: str
    title: str
    brand: str = ""
    color: str = ""
    category: str = ""
    bullet_points: str = ""
    description: str = ""
    price: float | None = None
    rating: float | None = None
    rating_count: int = 0

    def text(self, fields: Iterable[str] = ITEM_FIELDS,
             max_chars: int = ITEM_TEXT_MAX_CHARS) -> str:
        """The item as the models see it (:func:`components.contracts.item_text`)."""
        return item_text(self, fields, max_chars)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Judgment:
    """A human relevance judgment of an item for a buyer query (a keyphrase)."""

    query_id: str
    query: str
    item_id: str
    grade: str

    @property
    def gain(self) -> float:
        return ESCI_GAINS[self.grade]

    @property
    def relevant(self) -> bool:
        return self.grade in RELEVANT_GRADES


def _esci_dir(root: Path | None) -> Path:
    return (root or data_dir()) / "esci"


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(path, "file not found (set KPDISTILL_DATA_DIR or see docs/DATA.md)")
    return path


def load_judgments(root: Path | None = None, path: Path | None = None) -> list[Judgment]:
    """Read ``judgments.csv``. A bad header, row or grade raises DataError naming the line."""
    path = _require(path or _esci_dir(root) / "judgments.csv")
    out: list[Judgment] = []
    seen: set[tuple[str, str]] = set()
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != JUDGMENT_COLUMNS:
            raise DataError(path, f"header must be {','.join(JUDGMENT_COLUMNS)}, got {header}",
                            line=1)
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(JUDGMENT_COLUMNS):
                raise DataError(path, f"expected {len(JUDGMENT_COLUMNS)} columns, got {len(row)}",
                                line=lineno)
            query_id, query, item_id, grade = (c.strip() for c in row)
            for name, value in zip(JUDGMENT_COLUMNS, (query_id, query, item_id, grade),
                                   strict=True):
                if not value:
                    raise DataError(path, "empty value", line=lineno, field=name)
            if grade not in GRADES:
                raise DataError(path, f"grade must be one of {'/'.join(GRADES)}, got {grade!r}",
                                line=lineno, field="label")
            key = (query_id, item_id)
            if key in seen:
                raise DataError(path, f"duplicate judgment for query {query_id}, item {item_id}",
                                line=lineno, field="product_id")
            seen.add(key)
            out.append(Judgment(query_id, query, item_id, grade))
    if not out:
        raise DataError(path, "no judgments")
    return out


def _opt_float(value, path, lineno, field) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(path, f"not a number: {value!r}", line=lineno, field=field) from None


def _parse_item(record: dict, path: Path, lineno: int) -> Item:
    if not isinstance(record, dict):
        raise DataError(path, "expected a JSON object", line=lineno)
    item_id = record.get("product_id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise DataError(path, "missing or empty", line=lineno, field="product_id")
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        raise DataError(path, "missing or empty", line=lineno, field="title")
    strings = {}
    for name in ("brand", "color", "category", "bullet_points", "description"):
        value = record.get(name) or ""
        if not isinstance(value, str):
            raise DataError(path, f"expected a string, got {type(value).__name__}",
                            line=lineno, field=name)
        strings[name] = value.strip()
    count = _opt_float(record.get("rating_count"), path, lineno, "rating_count")
    return Item(
        item_id=item_id.strip(),
        title=title.strip(),
        price=_opt_float(record.get("price"), path, lineno, "price"),
        rating=_opt_float(record.get("rating"), path, lineno, "rating"),
        rating_count=int(count or 0),
        **strings,
    )


def load_items(root: Path | None = None, path: Path | None = None) -> dict[str, Item]:
    """Read ``products.jsonl.gz`` (or plain ``.jsonl``) into items keyed by id."""
    path = _require(path or _esci_dir(root) / "products.jsonl.gz")
    opener = gzip.open if path.suffix == ".gz" else open
    items: dict[str, Item] = {}
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"invalid JSON ({exc.msg})", line=lineno) from None
                item = _parse_item(record, path, lineno)
                if item.item_id in items:
                    raise DataError(path, f"duplicate product {item.item_id}", line=lineno,
                                    field="product_id")
                items[item.item_id] = item
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(path, f"cannot read ({exc})") from None
    if not items:
        raise DataError(path, "no items")
    return items


def check_coverage(judgments: list[Judgment], items: dict[str, Item]) -> None:
    """Every judged item must have text."""
    missing = sorted({j.item_id for j in judgments} - items.keys())
    if missing:
        raise DataError("products.jsonl.gz",
                        f"{len(missing)} judged products have no record, e.g. {missing[:3]}")
