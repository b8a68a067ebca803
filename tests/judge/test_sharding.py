"""Sharded judging: the split by item, the exactly-once merge, per-shard stores that later
runs reuse, and merged labels equal to an unsharded run's (a real, tiny LM judging)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from kfp import dsl

from components.contracts import CANDIDATES_FILE, LABELS_FILE
from components.judge.component import merge_labels, shard_candidates
from components.judge.labels import load_teacher_labels, save_teacher_labels
from components.judge.pairs import CandidatePair, save_candidates
from components.judge.run import judge_candidates, teacher_labels
from components.judge.store import JudgmentStore, shard_store_path, sibling_stores
from components.sharding import (
    ShardError,
    merge_exactly_once,
    read_shard,
    shard_of,
    split_by_item,
    stragglers,
    write_shards,
)


def _pairs(n_items=7, per_item=3):
    return [CandidatePair(f"item{i}", f"kp {i} {k}", None, "retrieved")
            for i in range(n_items) for k in range(per_item)]


def test_an_items_pairs_share_a_shard_and_the_hash_is_stable():
    pairs = _pairs()
    shards = split_by_item(pairs, 3)
    assert sorted(p.key for s in shards for p in s) == sorted(p.key for p in pairs)  # once
    for index, shard in enumerate(shards):
        assert {shard_of(p.item_id, 3) for p in shard} <= {index}
    # SHA-1 of the id: the same on every machine and process (not Python's salted hash)
    assert shard_of("B00000J6JO", 4) == int.from_bytes(
        __import__("hashlib").sha1(b"B00000J6JO").digest()[:8], "big") % 4
    with pytest.raises(ShardError, match="num_shards"):
        shard_of("x", 0)


def test_shard_files_round_trip_and_a_tampered_shard_is_refused(tmp_path):
    pairs = _pairs()
    assert write_shards(tmp_path, pairs, 2) == [0, 1]
    back = [read_shard(tmp_path, i, lambda r: CandidatePair(**r)) for i in (0, 1)]
    assert sorted(p.key for p in back[0] + back[1]) == sorted(p.key for p in pairs)
    manifest = json.loads((tmp_path / "shards.json").read_text())
    assert sum(manifest["pairs_per_shard"]) == len(pairs) == manifest["pairs"]
    with (tmp_path / "shard-001.jsonl").open("a") as fh:
        fh.write(json.dumps({"item_id": "x", "keyphrase": "y", "query_id": None,
                             "source": "random"}) + "\n")
    with pytest.raises(ShardError, match="manifest"):
        read_shard(tmp_path, 1, lambda r: CandidatePair(**r))
    with pytest.raises(ShardError, match="not among"):
        read_shard(tmp_path, 2, lambda r: CandidatePair(**r))


def test_the_merge_takes_each_pair_once_and_names_what_does_not_add_up():
    key = lambda p: p.key  # noqa: E731
    pairs = _pairs()
    a, b = split_by_item(pairs, 2)
    rows, report = merge_exactly_once([p.key for p in pairs], [a + a[:1], b], key)
    assert len(rows) == len(pairs) and report["duplicates_dropped"] == 1
    with pytest.raises(ShardError, match="no shard returned"):
        merge_exactly_once([p.key for p in pairs], [a, b[1:]], key)
    with pytest.raises(ShardError, match="in two shards"):
        merge_exactly_once([p.key for p in pairs], [a, b + a[:1]], key)
    with pytest.raises(ShardError, match="no shard was asked for"):
        merge_exactly_once([p.key for p in pairs[1:]], [a, b], key)


def test_stragglers_are_far_slower_than_the_median_shard():
    assert stragglers([10.0, 11.0, 12.0, 40.0]) == [3]
    assert stragglers([1.0, 1.0, 3.0]) == []      # 3x, but 2 s: noise, not a straggler
    assert stragglers([5.0]) == []


def _artifact(path, **metadata):
    path.mkdir(parents=True, exist_ok=True)
    return dsl.Dataset(name=path.name, uri=str(path), metadata=metadata)


def test_merged_shard_labels_equal_an_unsharded_run(tmp_path, tiny_judge_dir, bundle):
    """Judge 18 real ESCI pairs once unsharded and once as 2 shards through the shard and
    merge components: the same labels, in the candidates' order."""
    from components.judge.local import LocalJudge

    rows = bundle.judgments[:18]
    pairs = [CandidatePair(j.item_id, j.query, j.query_id, "judged") for j in rows]
    items = {p.item_id: bundle.items[p.item_id] for p in pairs}
    judge = LocalJudge(tiny_judge_dir, "tiny", device="cpu", batch_size=4)

    with JudgmentStore(tmp_path / "one.sqlite") as db:
        judge_candidates(pairs, items, judge, db, progress=False)
        whole = teacher_labels(pairs, db, "tiny", judge.prompt_version)

    candidates = _artifact(tmp_path / "candidates")
    save_candidates(tmp_path / "candidates" / CANDIDATES_FILE, pairs)
    shards = _artifact(tmp_path / "shards")
    assert shard_candidates.python_func(candidates=candidates, shards=shards,
                                        num_shards=2) == [0, 1]
    parts = []
    base = tmp_path / "stores" / "judgments.sqlite"
    for shard in (1, 0):  # any order: the merge sorts by shard
        mine = read_shard(shards.path, shard, lambda r: CandidatePair(**r))
        with JudgmentStore(shard_store_path(base, shard, 2)) as db:
            stats = judge_candidates(mine, items, judge, db, progress=False)
            labels = teacher_labels(mine, db, "tiny", judge.prompt_version)
        part = _artifact(tmp_path / f"part{shard}", shard=float(shard), judge_model="tiny",
                         prompt_version=judge.prompt_version, seconds=stats.seconds,
                         judged_now=stats.judged)
        save_teacher_labels(tmp_path / f"part{shard}" / LABELS_FILE, labels)
        parts.append(part)
    merged = _artifact(tmp_path / "merged")
    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "metrics"))
    merge_labels.python_func(candidates=shards, parts=parts, labels=merged, metrics=metrics)

    got = load_teacher_labels(tmp_path / "merged" / LABELS_FILE, ok_only=False)
    assert [(r.item_id, r.keyphrase) for r in got] == [(r.item_id, r.keyphrase) for r in whole]
    for a, b in zip(got, whole, strict=True):
        assert a.status == b.status and a.grade == b.grade
        assert a.p_relevant == pytest.approx(b.p_relevant, abs=1e-4)
    assert merged.metadata["shards"] == 2 and merged.metadata["judged_now"] == len(pairs)
    assert sorted(p.name for p in sibling_stores(base)) == [
        "judgments.shard-000-of-002.sqlite", "judgments.shard-001-of-002.sqlite"]

    # a shard of another judge or prompt is refused
    parts[0].metadata["prompt_version"] = "other"
    with pytest.raises(ShardError, match="different judges"):
        merge_labels.python_func(candidates=shards, parts=parts, labels=merged,
                                 metrics=metrics)


def test_a_later_run_reuses_any_earlier_stores_judgments_whatever_its_sharding(tmp_path):
    """Incremental runs: a run with 3 shards finds what a 2-shard run judged."""
    from components.judge.reading import SoftLabel
    from components.judge.store import StoredJudgment

    base = tmp_path / "judgments.sqlite"
    pairs = _pairs()
    label = SoftLabel("ok", {"E": 0.7, "S": 0.0, "C": 0.0, "I": 0.3}, "Yes", 0.9)
    for shard, mine in enumerate(split_by_item(pairs, 2)):
        with JudgmentStore(shard_store_path(base, shard, 2)) as db:
            db.put_many(StoredJudgment("m", "v", p.item_id, p.keyphrase, None, p.source, label)
                        for p in mine)
    (tmp_path / "judgments.shard-009-of-010.sqlite").write_bytes(b"")  # just created: empty
    new = CandidatePair("item-new", "kp new", None, "random")
    wanted = split_by_item([*pairs, new], 3)[0]
    with JudgmentStore(shard_store_path(base, 0, 3)) as db:
        copied = db.import_from(sibling_stores(base), "m", "v", {p.key for p in wanted})
        assert copied == len([p for p in wanted if p != new])
        assert db.done_pairs("m", "v") == {p.key for p in wanted if p != new}
        assert db.import_from(sibling_stores(base), "m", "other", {p.key for p in wanted}) == 0
    (tmp_path / "judgments.shard-008-of-010.sqlite").write_text("not a database at all" * 100)
    with JudgmentStore(shard_store_path(base, 1, 3)) as db, \
            pytest.raises(sqlite3.DatabaseError, match="not a judgment store"):
        db.import_from(sibling_stores(base), "m", "v", {p.key for p in pairs})


def test_a_rerun_with_every_pair_stored_never_loads_the_judge(tmp_path, tiny_judge_dir,
                                                              bundle, monkeypatch):
    """judge_pairs twice over one store: the first run judges (a real tiny LM), the second
    finds every pair stored and labels them without building a backend; one new pair and the
    judge is built again."""
    import components.judge.run as run
    from components.judge.component import judge_pairs
    from components.judge.run import StoredOnlyJudge, all_stored

    pairs = [CandidatePair(j.item_id, j.query, j.query_id, "judged")
             for j in bundle.judgments[:6]]
    data = _artifact(tmp_path / "data")
    bundle.save(data.path)
    candidates = _artifact(tmp_path / "candidates")
    save_candidates(tmp_path / "candidates" / CANDIDATES_FILE, pairs)
    config = tmp_path / "judge.yaml"
    config.write_text(f"model_dir: {tiny_judge_dir}\ndevice: cpu\n")
    store = tmp_path / "judgments.sqlite"
    built = []
    make_backend = run.make_backend
    monkeypatch.setattr(run, "make_backend", lambda cfg: built.append(1) or make_backend(cfg))

    def judge(name):
        labels, metrics = _artifact(tmp_path / name), dsl.Metrics(
            name="metrics", uri=str(tmp_path / f"{name}-metrics"))
        judge_pairs.python_func(data=data, candidates=candidates, labels=labels,
                                metrics=metrics, store_path=str(store), config_path=str(config))
        return labels, load_teacher_labels(tmp_path / name / LABELS_FILE, ok_only=False)

    first, first_rows = judge("first")
    assert built == [1] and first.metadata["judged_now"] == len(pairs)
    second, second_rows = judge("second")
    assert built == [1]  # nothing new: the judge was not loaded
    assert second.metadata["judged_now"] == 0
    assert second.metadata["resumed_from_store"] == len(pairs)
    assert [(r.item_id, r.keyphrase, r.p_relevant) for r in second_rows] == [
        (r.item_id, r.keyphrase, r.p_relevant) for r in first_rows]

    model, version = first.metadata["judge_model"], first.metadata["prompt_version"]
    with JudgmentStore(store) as db:
        assert all_stored(pairs, db, model, version)
        assert not all_stored(pairs, db, model, version, dimension_version="dims-v1")
        new = CandidatePair(pairs[0].item_id, "a keyphrase never judged", None, "random")
        assert not all_stored([*pairs, new], db, model, version)
        with pytest.raises(RuntimeError, match="was not loaded"):
            judge_candidates([new], {new.item_id: bundle.items[new.item_id]},
                             StoredOnlyJudge(model, version), db, progress=False)
    save_candidates(tmp_path / "candidates" / CANDIDATES_FILE, [*pairs, new])
    third, _ = judge("third")
    assert built == [1, 1] and third.metadata["judged_now"] == 1
