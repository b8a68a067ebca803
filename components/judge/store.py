"""Durable, resumable store of judgments: SQLite in WAL mode.

Keyed by (judge_model, prompt_version, item_id, keyphrase): a pair judged once is never
judged again by the same model and prompt. Rows are written in transactions of one chunk;
a process killed at any point leaves every committed chunk intact (WAL) and no partial one,
and ``INSERT OR IGNORE`` on the key means a re-run cannot duplicate a row.

Dimension judgments (components/judge/dimensions.py) live in their own table, keyed the same
way with the dimension prompts' version in the prompt version's place: (judge_model,
dimension_version, item_id, keyphrase). They are resumable on their own (a pair graded
earlier gets only its dimensions judged) and a new grade rubric does not re-ask them.
``judgments(..., dimension_version=...)`` joins them onto the grades. (The ``dimensions``
column of ``judgments`` predates that table: it is left null and not read.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from components.judge.dimensions import DimensionJudgment, validate_dimensions
from components.judge.labels import TeacherLabel
from components.judge.reading import SoftLabel

SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    judge_model    TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    item_id        TEXT NOT NULL,
    keyphrase      TEXT NOT NULL,
    query_id       TEXT,
    source         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('ok', 'unreadable')),
    probs          TEXT,
    raw            TEXT NOT NULL,
    grade_mass     REAL,
    dimensions     TEXT,
    created_at     TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (judge_model, prompt_version, item_id, keyphrase)
)
"""

DIMENSION_SCHEMA = """
CREATE TABLE IF NOT EXISTS dimension_judgments (
    judge_model       TEXT NOT NULL,
    dimension_version TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    keyphrase         TEXT NOT NULL,
    dimensions        TEXT,
    raw               TEXT NOT NULL,
    mass              TEXT NOT NULL,
    created_at        TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (judge_model, dimension_version, item_id, keyphrase)
)
"""


@dataclass(frozen=True)
class StoredDimensions:
    """One pair's dimension answers: the contract value (``dimensions``, None when none was
    readable), and each dimension's raw top token and answer-word mass (kept for the
    unreadable ones too)."""

    judge_model: str
    dimension_version: str
    item_id: str
    keyphrase: str
    dimensions: dict | None
    raw: dict[str, str]
    mass: dict[str, float | None]

    @classmethod
    def of(cls, judge_model: str, dimension_version: str, item_id: str, keyphrase: str,
           judgment: DimensionJudgment) -> StoredDimensions:
        return cls(judge_model, dimension_version, item_id, keyphrase, judgment.dimensions,
                   {d: a.raw for d, a in judgment.answers.items()},
                   {d: a.mass for d, a in judgment.answers.items()})

    @property
    def unreadable(self) -> int:
        return len(self.raw) if self.dimensions is None else sum(
            v is None for v in self.dimensions.values())


@dataclass(frozen=True)
class StoredJudgment:
    judge_model: str
    prompt_version: str
    item_id: str
    keyphrase: str
    query_id: str | None
    source: str
    label: SoftLabel
    dimensions: dict | None = None

    def teacher_label(self, source: str | None = None) -> TeacherLabel:
        probs = self.label.probs
        return TeacherLabel(
            item_id=self.item_id, keyphrase=self.keyphrase, query_id=self.query_id,
            source=source or self.source, judge_model=self.judge_model,
            prompt_version=self.prompt_version, status=self.label.status, probs=probs,
            p_relevant=self.label.p_relevant, grade=self.label.grade,
            dimensions=self.dimensions)


def shard_store_path(base: Path | str, shard: int, num_shards: int) -> Path:
    """Shard ``shard`` of ``num_shards``'s own store beside ``base`` (the unsharded store):
    ``judgments.sqlite`` → ``judgments.shard-001-of-004.sqlite``. Each shard task writes
    only its own file (no two writers on one SQLite file, which a shared volume would not
    survive), so a retried shard resumes from exactly what it committed."""
    base = Path(base)
    return base.with_name(f"{base.stem}.shard-{shard:03d}-of-{num_shards:03d}{base.suffix}")


def sibling_stores(base: Path | str) -> list[Path]:
    """The unsharded store at ``base`` and every shard store beside it, of any shard count."""
    base = Path(base)
    if not base.parent.is_dir():
        return []
    return sorted(p for p in base.parent.glob(f"{base.stem}*{base.suffix}")
                  if p == base or p.name.startswith(f"{base.stem}.shard-"))


class JudgmentStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across kills
        self._db.execute(SCHEMA)
        self._db.execute(DIMENSION_SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> JudgmentStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def done_pairs(self, judge_model: str, prompt_version: str) -> set[tuple[str, str]]:
        rows = self._db.execute(
            "SELECT item_id, keyphrase FROM judgments WHERE judge_model=? AND prompt_version=?",
            (judge_model, prompt_version))
        return {(r[0], r[1]) for r in rows}

    def put_many(self, judgments: Iterable[StoredJudgment]) -> int:
        """Insert in one transaction; pairs already stored are left as they are. Grades only:
        dimension answers go through ``put_dimensions``."""
        rows = []
        for j in judgments:
            if j.dimensions is not None:
                raise ValueError(f"{j.item_id!r} / {j.keyphrase!r}: put_many stores grades; "
                                 "store dimension answers with put_dimensions")
            rows.append((j.judge_model, j.prompt_version, j.item_id, j.keyphrase, j.query_id,
                         j.source, j.label.status,
                         json.dumps(j.label.probs) if j.label.probs else None,
                         j.label.raw, j.label.grade_mass))
        with self._db:
            cur = self._db.executemany(
                "INSERT OR IGNORE INTO judgments (judge_model, prompt_version, item_id, "
                "keyphrase, query_id, source, status, probs, raw, grade_mass) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        return cur.rowcount

    def judgments(self, judge_model: str, prompt_version: str,
                  dimension_version: str | None = None) -> Iterator[StoredJudgment]:
        """The stored grades; with ``dimension_version``, each carries the pair's stored
        dimension answers of that version (None where there are none)."""
        dims = (self.dimension_map(judge_model, dimension_version) if dimension_version
                else {})
        rows = self._db.execute(
            "SELECT item_id, keyphrase, query_id, source, status, probs, raw, grade_mass "
            "FROM judgments WHERE judge_model=? AND prompt_version=? "
            "ORDER BY rowid", (judge_model, prompt_version))
        for item_id, kp, qid, source, status, probs, raw, mass in rows:
            label = SoftLabel(status, json.loads(probs) if probs else None, raw, mass)
            stored = dims.get((item_id, kp))
            yield StoredJudgment(judge_model, prompt_version, item_id, kp, qid, source, label,
                                 stored.dimensions if stored else None)

    # -- dimensions -------------------------------------------------------------------------
    def done_dimension_pairs(self, judge_model: str, dimension_version: str
                             ) -> set[tuple[str, str]]:
        rows = self._db.execute(
            "SELECT item_id, keyphrase FROM dimension_judgments WHERE judge_model=? AND "
            "dimension_version=?", (judge_model, dimension_version))
        return {(r[0], r[1]) for r in rows}

    def put_dimensions(self, rows: Iterable[StoredDimensions]) -> int:
        """Insert in one transaction; pairs already stored are left as they are. A value
        that breaks the dimensions contract raises before anything is written."""
        values = []
        for r in rows:
            validate_dimensions(r.dimensions)
            values.append((r.judge_model, r.dimension_version, r.item_id, r.keyphrase,
                           json.dumps(r.dimensions) if r.dimensions is not None else None,
                           json.dumps(r.raw), json.dumps(r.mass)))
        with self._db:
            cur = self._db.executemany(
                "INSERT OR IGNORE INTO dimension_judgments (judge_model, dimension_version, "
                "item_id, keyphrase, dimensions, raw, mass) VALUES (?,?,?,?,?,?,?)", values)
        return cur.rowcount

    def dimension_judgments(self, judge_model: str, dimension_version: str
                            ) -> Iterator[StoredDimensions]:
        rows = self._db.execute(
            "SELECT item_id, keyphrase, dimensions, raw, mass FROM dimension_judgments "
            "WHERE judge_model=? AND dimension_version=? ORDER BY rowid",
            (judge_model, dimension_version))
        for item_id, kp, dims, raw, mass in rows:
            yield StoredDimensions(judge_model, dimension_version, item_id, kp,
                                   json.loads(dims) if dims else None, json.loads(raw),
                                   json.loads(mass))

    def dimension_map(self, judge_model: str, dimension_version: str
                      ) -> dict[tuple[str, str], StoredDimensions]:
        return {(d.item_id, d.keyphrase): d
                for d in self.dimension_judgments(judge_model, dimension_version)}

    # -- earlier runs' stores ----------------------------------------------------------------
    def import_from(self, others: Iterable[Path], judge_model: str, prompt_version: str,
                    pairs: set[tuple[str, str]], dimension_version: str | None = None) -> int:
        """Copy into this store the grades (and dimension answers of ``dimension_version``)
        of ``pairs`` that other stores hold and this one lacks: a shard of a run reuses what
        any earlier run judged with the same model and prompt, however that run was sharded.
        The others are opened read-only. Returns how many grades were copied."""
        copied = 0
        for other in others:
            if Path(other).resolve() == self.path.resolve() or not Path(other).is_file():
                continue
            src = sqlite3.connect(f"file:{Path(other).resolve()}?mode=ro", uri=True,
                                  timeout=30.0)
            try:
                tables = {r[0] for r in src.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")}
            except sqlite3.DatabaseError as exc:
                src.close()
                raise sqlite3.DatabaseError(f"{other}: not a judgment store ({exc}); move "
                                            "it away from the store directory") from exc
            if not {"judgments", "dimension_judgments"} <= tables:
                src.close()  # a store another task has only just created: nothing in it yet
                continue
            try:
                have = self.done_pairs(judge_model, prompt_version)
                rows = [r for r in src.execute(
                    "SELECT judge_model, prompt_version, item_id, keyphrase, query_id, source, "
                    "status, probs, raw, grade_mass FROM judgments WHERE judge_model=? AND "
                    "prompt_version=?", (judge_model, prompt_version))
                    if (r[2], r[3]) in pairs and (r[2], r[3]) not in have]
                dims = []
                if dimension_version:
                    have_dims = self.done_dimension_pairs(judge_model, dimension_version)
                    dims = [r for r in src.execute(
                        "SELECT judge_model, dimension_version, item_id, keyphrase, "
                        "dimensions, raw, mass FROM dimension_judgments WHERE judge_model=? "
                        "AND dimension_version=?", (judge_model, dimension_version))
                        if (r[2], r[3]) in pairs and (r[2], r[3]) not in have_dims]
            finally:
                src.close()
            with self._db:
                self._db.executemany(
                    "INSERT OR IGNORE INTO judgments (judge_model, prompt_version, item_id, "
                    "keyphrase, query_id, source, status, probs, raw, grade_mass) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
                self._db.executemany(
                    "INSERT OR IGNORE INTO dimension_judgments (judge_model, "
                    "dimension_version, item_id, keyphrase, dimensions, raw, mass) "
                    "VALUES (?,?,?,?,?,?,?)", dims)
            copied += len(rows)
        return copied

    def count(self, judge_model: str | None = None, status: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM judgments WHERE 1=1", []
        if judge_model is not None:
            sql, args = sql + " AND judge_model=?", [*args, judge_model]
        if status is not None:
            sql, args = sql + " AND status=?", [*args, status]
        return int(self._db.execute(sql, args).fetchone()[0])
