"""The whole pipeline runs end to end on this machine with kfp.local: real steps (judge, cross-
encoder, students, export, index, report) at the smallest budgets that exercise every
artifact. The run itself is the session fixture ``pipeline_run`` (conftest.py)."""

import json

import pytest

pytestmark = pytest.mark.slow


def test_every_step_leaves_its_artifacts(pipeline_run):
    run, _ = pipeline_run
    baselines = json.loads((run / "evaluate-baselines" / "results").read_text())
    assert all(0 < baselines[m]["test"]["ndcg@10"] <= 1 for m in ("random", "bm25"))
    assert "| bm25 |" in (run / "evaluate-baselines" / "report").read_text()

    labels = (run / "merge-labels" / "labels" / "teacher_labels.jsonl").read_text().splitlines()
    assert len(labels) == 12 and all(json.loads(row)["judge_model"] for row in labels)
    # two judge shards, each pair in exactly one, merged back in the candidates' order
    shard_labels = [json.loads(row) for path in sorted(run.glob(
        "for-loop-*/judge-pairs/labels/teacher_labels.jsonl")) for row in
        path.read_text().splitlines()]
    assert len(shard_labels) == 12 and {(r["item_id"], r["keyphrase"]) for r in shard_labels} \
        == {(json.loads(r)["item_id"], json.loads(r)["keyphrase"]) for r in labels}
    candidates = (run / "generate-candidates" / "candidates" / "candidates.jsonl")
    order = [(r["item_id"], r["keyphrase"]) for r in map(json.loads,
                                                          candidates.read_text().splitlines())]
    assert [(json.loads(r)["item_id"], json.loads(r)["keyphrase"]) for r in labels] == \
        list(dict.fromkeys(order))

    assert (run / "train-cross-encoder" / "model" / "config.json").is_file()
    merged = (run / "merge-scores" / "scores" / "pool_scores.jsonl").read_text().splitlines()
    parts = [row for path in sorted(run.glob("for-loop-*/score-pairs/scores/pool_scores.jsonl"))
             for row in path.read_text().splitlines()]
    pool = json.loads((run / "build-pool" / "pool" / "shards.json").read_text())
    assert len(merged) == len(parts) == pool["pairs"] > 0 and pool["num_shards"] == 2
    for task in ("train-bi-encoder", "train-bi-encoder-2"):
        assert (run / task / "student" / "modules.json").is_file(), task
        log = json.loads((run / task / "student" / "training_log.json").read_text())
        steps = sorted(step for points in log["losses"].values() for step, _ in points)
        assert steps == [1, 2, 3, 4] and len(log["validation"]) == 2, (task, log)
    for task, key in (("evaluate", "distilled_64"), ("evaluate-2", "click_only")):
        assert key in (run / task / "report").read_text(), task
    # the assistant's test row is measured once, by its training step; no evaluation repeats it
    for task in ("evaluate", "evaluate-2"):
        assert "cross_encoder" not in json.loads((run / task / "results").read_text()), task
    trained = json.loads((run / "train-cross-encoder" / "executor_output.json").read_text())
    logged = trained["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert {"test.ndcg@10", "test.mrr"} <= set(logged), logged

    repo = run / "export-model" / "model_repository"
    for model in ("embed_text", "score_pairs", "tokenizer", "encoder"):
        assert (repo / model / "config.pbtxt").is_file(), model
    assert any((run / "build-index" / "index").iterdir())


def test_the_universe_holds_mined_keyphrases(pipeline_run):
    run, _ = pipeline_run
    manifest = json.loads((run / "prepare-data" / "data" / "manifest.json").read_text())
    assert 290 <= manifest["keyphrases_by_source"]["mined"] <= 300  # minus any equal to a query
    index = json.loads((run / "build-index" / "executor_output.json").read_text())
    count = index["artifacts"]["metrics"]["artifacts"][0]["metadata"]["keyphrases"]
    assert count == manifest["keyphrases"]


def test_the_terminal_shows_one_line_per_step_start_and_end(pipeline_run):
    run, output = pipeline_run
    lines = output.splitlines()
    steps = sorted(p.name for p in run.iterdir()
                   if (p / "executor_output.json").is_file())
    assert len(steps) == 16
    for step in steps:
        mine = [line for line in lines if f" {step} " in f"{line} "]
        assert len(mine) == 2 and "started" in mine[0] and "done in" in mine[1], (step, mine)
        assert (run / "logs" / f"{step}.log").stat().st_size > 0, step
    # the shard tasks: two of each, each with its line at start and end and its own log
    shards = sorted(p.parent.name for p in run.glob("for-loop-*/*/executor_output.json"))
    assert shards == ["judge-pairs"] * 2 + ["score-pairs"] * 2
    for task in ("judge-pairs", "score-pairs"):
        mine = [line for line in lines if f" {task} " in f"{line} "]
        assert [("started" in m, "done in" in m) for m in mine].count((True, False)) == 2, mine
        assert [("started" in m, "done in" in m) for m in mine].count((False, True)) == 2, mine
        assert (run / "logs" / f"{task}.log").is_file(), task
        assert (run / "logs" / f"{task}~2.log").is_file(), task
    assert len(lines) < 70, output
    assert "Executing task" not in output and "outputs:" not in output
    assert "Executing task" in (run / "logs" / "prepare-data.log").read_text()
    assert f"report         {run / 'report.html'}" in output
