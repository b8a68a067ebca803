"""Durable, resumable store of judgments: SQLite in WAL mode.

Keyed by (judge_model, prompt_version, item_id, keyphrase): a pair judged once is never
judged again by the same model and prompt. Rows are written in transactions of one chunk;
a process killed at any point leaves every committed chunk intact (WAL) and no partial one,
and ``INSERT OR IGNORE`` on the key means a re-run cannot duplicate a row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


class JudgmentStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across kills
        self._db.execute(SCHEMA)
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
        """Insert in one transaction; pairs already stored are left as they are."""
        rows = [(j.judge_model, j.prompt_version, j.item_id, j.keyphrase, j.query_id, j.source,
                 j.label.status, json.dumps(j.label.probs) if j.label.probs else None,
                 j.label.raw, j.label.grade_mass,
                 json.dumps(j.dimensions) if j.dimensions is not None else None)
                for j in judgments]
        with self._db:
            cur = self._db.executemany(
                "INSERT OR IGNORE INTO judgments (judge_model, prompt_version, item_id, "
                "keyphrase, query_id, source, status, probs, raw, grade_mass, dimensions) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        return cur.rowcount

    def judgments(self, judge_model: str, prompt_version: str) -> Iterator[StoredJudgment]:
        rows = self._db.execute(
            "SELECT item_id, keyphrase, query_id, source, status, probs, raw, grade_mass, "
            "dimensions FROM judgments WHERE judge_model=? AND prompt_version=? "
            "ORDER BY rowid", (judge_model, prompt_version))
        for item_id, kp, qid, source, status, probs, raw, mass, dims in rows:
            label = SoftLabel(status, json.loads(probs) if probs else None, raw, mass)
            yield StoredJudgment(judge_model, prompt_version, item_id, kp, qid, source, label,
                                 json.loads(dims) if dims else None)

    def count(self, judge_model: str | None = None, status: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM judgments WHERE 1=1", []
        if judge_model is not None:
            sql, args = sql + " AND judge_model=?", [*args, judge_model]
        if status is not None:
            sql, args = sql + " AND status=?", [*args, status]
        return int(self._db.execute(sql, args).fetchone()[0])
