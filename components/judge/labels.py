"""Teacher labels: the judge's soft labels as JSONL, the contract read by the cross-encoder.

One row per judged pair::

    {"item_id", "keyphrase", "query_id" (ESCI id or null), "source", "judge_model",
     "prompt_version", "status": "ok"|"unreadable", "probs": {"E","S","C","I"},
     "p_relevant", "grade", "dimensions": {...} | null}

Unreadable rows keep ``probs``/``p_relevant``/``grade`` as null.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from components.judge.rubric import GRADES

LABELS_FILE = "teacher_labels.jsonl"  # inside a teacher-labels Dataset directory
# "judged": a pair of the human-judged set, labelled by the judge without its human grade
# (bench.cv: the folds' students keep their train queries' pairs)
SOURCES = ("clicked", "shown", "retrieved", "filtered", "random", "eval", "judged")
STATUSES = ("ok", "unreadable")


class LabelError(ValueError):
    """A teacher-label row that breaks the contract."""


@dataclass(frozen=True)
class TeacherLabel:
    item_id: str
    keyphrase: str
    query_id: str | None
    source: str
    judge_model: str
    prompt_version: str
    status: str
    probs: dict[str, float] | None
    p_relevant: float | None
    grade: str | None
    dimensions: dict | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise LabelError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.status not in STATUSES:
            raise LabelError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "ok":
            if self.probs is None or set(self.probs) != set(GRADES):
                raise LabelError(f"an ok label needs probs over {GRADES}, got {self.probs}")
            if abs(sum(self.probs.values()) - 1.0) > 1e-3:
                raise LabelError(f"probs must sum to 1, got {sum(self.probs.values())}")
            if self.grade not in GRADES or self.p_relevant is None:
                raise LabelError("an ok label needs a grade and p_relevant")

    def to_dict(self) -> dict:
        return asdict(self)


def write_jsonl_atomic(path: Path | str, rows: Iterable[dict]) -> int:
    """Write dicts as JSONL atomically (a synced temp file renamed into place); the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return count


def save_teacher_labels(path: Path | str, labels: Iterable[TeacherLabel]) -> int:
    """Write labels as JSONL (atomically: a temp file renamed into place). Returns the count."""
    return write_jsonl_atomic(path, (label.to_dict() for label in labels))


def load_teacher_labels(path: Path | str, ok_only: bool = True) -> list[TeacherLabel]:
    """Read labels; a malformed line raises LabelError naming the file and line."""
    path = Path(path)
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                label = TeacherLabel(**json.loads(line))
            except (json.JSONDecodeError, TypeError, LabelError) as exc:
                raise LabelError(f"{path}:{lineno}: {exc}") from None
            if ok_only and label.status != "ok":
                continue
            out.append(label)
    return out
