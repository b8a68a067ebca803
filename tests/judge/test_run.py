import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from components.data import load_items
from components.judge.local import LocalJudge
from components.judge.pairs import CandidatePair, save_candidates
from components.judge.run import judge_candidates, teacher_labels
from components.judge.store import JudgmentStore
from components.settings import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def items():
    return load_items()


def _pairs(items, n):
    ids = sorted(items)[:n]
    return [CandidatePair(i, f"keyphrase {k}", None, "random") for k, i in enumerate(ids)]


def test_unreadable_answers_are_stored_counted_and_do_not_stop(tmp_path, items, tiny_judge_dir):
    backend = LocalJudge(tiny_judge_dir, "tiny", device="cpu", min_grade_mass=0.99)
    pairs = _pairs(items, 5)
    with JudgmentStore(tmp_path / "j.sqlite") as store:
        stats = judge_candidates(pairs, items, backend, store, chunk_size=2, progress=False)
        assert (stats.judged, stats.unreadable) == (5, 5)
        assert store.count("tiny", "unreadable") == 5
        stored = list(store.judgments("tiny", "rubric-v1"))
        assert all(j.label.raw for j in stored)
        assert len(teacher_labels(pairs, store, "tiny")) == 5


def test_rerun_skips_done_pairs(tmp_path, items, tiny_judge_dir):
    backend = LocalJudge(tiny_judge_dir, "tiny", device="cpu", min_grade_mass=0.0)
    pairs = _pairs(items, 6)
    with JudgmentStore(tmp_path / "j.sqlite") as store:
        first = judge_candidates(pairs[:4], items, backend, store, progress=False)
        again = judge_candidates(pairs + pairs[:2], items, backend, store, progress=False)
    assert first.judged == 4
    assert (again.total, again.skipped, again.judged) == (6, 4, 2)


def test_candidates_without_item_text_fail_clearly(tmp_path, items, tiny_judge_dir):
    backend = LocalJudge(tiny_judge_dir, "tiny", device="cpu")
    with JudgmentStore(tmp_path / "j.sqlite") as store, pytest.raises(KeyError, match="no text"):
        judge_candidates([CandidatePair("NOPE", "x", None, "random")], items, backend, store)


def _count(db) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=5)
        return con.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_mid_run_then_rerun_loses_and_duplicates_nothing(tmp_path, items, tiny_judge_dir):
    pairs = _pairs(items, 24)
    save_candidates(tmp_path / "cands.jsonl", pairs)
    config = tmp_path / "judge.yaml"
    config.write_text(yaml.safe_dump({"model_dir": str(tiny_judge_dir), "device": "cpu",
                                      "batch_size": 1, "chunk_size": 1, "min_grade_mass": 0.0,
                                      "threads": 1}))
    db, out = tmp_path / "j.sqlite", tmp_path / "labels.jsonl"
    cmd = [sys.executable, "-m", "components.judge.run", "--candidates",
           str(tmp_path / "cands.jsonl"), "--store", str(db), "--out", str(out),
           "--config", str(config), "--model", "tiny"]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while _count(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    at_kill = _count(db)
    assert 3 <= at_kill < len(pairs), "the run must be killed part-way"
    assert not out.exists()

    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"skipped {at_kill} already stored" in done.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(pairs) == _count(db)
    assert {(r["item_id"], r["keyphrase"]) for r in rows} == {p.key for p in pairs}
