"""Candidate pairs: what the judge is asked to label (JSONL ``item_id, keyphrase, query_id, source``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from components.contracts import read_jsonl, write_jsonl_atomic
from components.judge.labels import SOURCES, LabelError


@dataclass(frozen=True)
class CandidatePair:
    item_id: str
    keyphrase: str
    query_id: str | None
    source: str

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise LabelError(f"source must be one of {SOURCES}, got {self.source!r}")
        if not self.item_id or not self.keyphrase:
            raise LabelError("item_id and keyphrase must be non-empty")

    @property
    def key(self) -> tuple[str, str]:
        return (self.item_id, self.keyphrase)


def save_candidates(path: Path | str, pairs: Iterable[CandidatePair]) -> int:
    """Write candidates as JSONL, atomically. Returns the count."""
    return write_jsonl_atomic(path, (asdict(pair) for pair in pairs))


def load_candidates(path: Path | str) -> list[CandidatePair]:
    return read_jsonl(path, lambda row: CandidatePair(**row),
                      lambda where, line, exc: LabelError(f"{where}:{line}: {exc}"))
