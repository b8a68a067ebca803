"""The whole pipeline runs end to end on this machine with kfp.local: real steps (judge, cross-
encoder, students, export, index) at the smallest budgets that exercise every artifact."""

import json

import pytest
from kfp import local

from pipelines.kpdistill import kpdistill_pipeline
from pipelines.run_local import latest_run


@pytest.mark.slow
def test_local_pipeline_end_to_end(tmp_path):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path),
               raise_on_error=True)
    kpdistill_pipeline(baseline_models=["random", "bm25"], judge_budget=12,
                       candidate_retrieval_items=500)
    run = latest_run(tmp_path)

    baselines = json.loads((run / "evaluate-baselines" / "results").read_text())
    assert baselines["bm25"]["test"]["ndcg@10"] > baselines["random"]["test"]["ndcg@10"]
    assert "| bm25 |" in (run / "evaluate-baselines" / "report").read_text()

    labels = (run / "judge-pairs" / "labels" / "teacher_labels.jsonl").read_text().splitlines()
    assert len(labels) == 12 and all(json.loads(row)["judge_model"] for row in labels)

    assert (run / "train-cross-encoder" / "model" / "config.json").is_file()
    assert (run / "score-pairs" / "scores" / "pool_scores.jsonl").stat().st_size > 0
    for task in ("train-bi-encoder", "train-bi-encoder-2"):
        assert (run / task / "student" / "modules.json").is_file(), task
    for task, key in (("evaluate", "distilled_64"), ("evaluate-2", "click_only")):
        assert key in (run / task / "report").read_text(), task

    repo = run / "export-model" / "model_repository"
    for model in ("embed_text", "score_pairs", "tokenizer", "encoder"):
        assert (repo / model / "config.pbtxt").is_file(), model
    assert any((run / "build-index" / "index").iterdir())
