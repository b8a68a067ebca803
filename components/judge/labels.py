"""Teacher labels: the judge's soft labels as JSONL, the contract read by the cross-encoder.

One row per judged pair::

    {"item_id", "keyphrase", "query_id" (ESCI id or null), "source", "judge_model",
     "prompt_version", "status": "ok"|"unreadable", "probs": {"E","S","C","I"},
     "p_relevant", "grade", "dimensions": {...} | null}

Unreadable rows keep ``probs``/``p_relevant``/``grade`` as null. ``dimensions`` is the judge's
per-dimension answers, ``{name: {"yes": p, "no": q, "na": r} | null}`` over every name of
``components.judge.dimensions.DIMENSIONS`` (null: that answer was unreadable), or null when
dimension judging was off or no dimension's answer was readable
(``components.judge.dimensions``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from components.contracts import read_jsonl, write_jsonl_atomic
from components.judge.dimensions import DimensionsError, validate_dimensions
from components.judge.rubric import GRADES

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
        try:
            validate_dimensions(self.dimensions)
        except DimensionsError as exc:
            raise LabelError(f"{self.item_id!r} / {self.keyphrase!r}: {exc}") from None

    def to_dict(self) -> dict:
        return asdict(self)


def save_teacher_labels(path: Path | str, labels: Iterable[TeacherLabel]) -> int:
    """Write labels as JSONL (atomically: a temp file renamed into place). Returns the count."""
    return write_jsonl_atomic(path, (label.to_dict() for label in labels))


def load_teacher_labels(path: Path | str, ok_only: bool = True) -> list[TeacherLabel]:
    """Read labels; a malformed line raises LabelError naming the file and line."""
    labels = read_jsonl(path, lambda row: TeacherLabel(**row), _label_error)
    return [label for label in labels if label.status == "ok" or not ok_only]


def _label_error(path: str, line: int, exc: Exception) -> LabelError:
    return LabelError(f"{path}:{line}: {exc}")
