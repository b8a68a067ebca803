import sqlite3

from components.judge.labels import load_teacher_labels, save_teacher_labels
from components.judge.reading import SoftLabel
from components.judge.store import JudgmentStore, StoredJudgment

OK = SoftLabel("ok", {"E": 0.6, "S": 0.2, "C": 0.1, "I": 0.1}, "Exact", 0.9)
BAD = SoftLabel("unreadable", None, "I cannot help", 0.01)


def _row(item, kp, label=OK, model="m", version="v1"):
    return StoredJudgment(model, version, item, kp, None, "random", label)


def test_insert_is_idempotent_and_keyed_by_model_and_version(tmp_path):
    with JudgmentStore(tmp_path / "j.sqlite") as store:
        assert store.put_many([_row("a", "x"), _row("b", "x", BAD)]) == 2
        assert store.put_many([_row("a", "x"), _row("a", "x", model="other")]) == 1
        assert store.done_pairs("m", "v1") == {("a", "x"), ("b", "x")}
        assert store.done_pairs("m", "v2") == set()
        assert store.count("m", "unreadable") == 1


def test_wal_mode_and_roundtrip_of_unreadable_raw_text(tmp_path):
    path = tmp_path / "j.sqlite"
    with JudgmentStore(path) as store:
        store.put_many([_row("b", "x", BAD)])
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with JudgmentStore(path) as store:
        [stored] = list(store.judgments("m", "v1"))
    assert stored.label.status == "unreadable" and stored.label.raw == "I cannot help"
    label = stored.teacher_label()
    assert label.probs is None and label.grade is None


def test_teacher_labels_roundtrip(tmp_path):
    labels = [_row("a", "x").teacher_label(), _row("b", "y", BAD).teacher_label("eval")]
    save_teacher_labels(tmp_path / "t.jsonl", labels)
    assert load_teacher_labels(tmp_path / "t.jsonl") == labels[:1]
    assert load_teacher_labels(tmp_path / "t.jsonl", ok_only=False) == labels
    assert labels[0].p_relevant == 0.8 and labels[0].grade == "E"
