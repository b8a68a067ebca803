"""The pipeline runs end to end on this machine with kfp.local (real steps, small budgets)."""

import json

import pytest
from kfp import local

from pipelines.kpdistill import kpdistill_pipeline
from pipelines.run_local import newest_output


@pytest.mark.slow
def test_local_pipeline_end_to_end(tmp_path):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path),
               raise_on_error=True)
    kpdistill_pipeline(baseline_models=["random", "bm25"])
    report = newest_output(tmp_path, "evaluate-baselines", "report").read_text()
    assert "| bm25 |" in report and "| random |" in report
    results = json.loads(newest_output(tmp_path, "evaluate-baselines", "results").read_text())
    assert results["bm25"]["test"]["ndcg@10"] > results["random"]["test"]["ndcg@10"]
    clicks = newest_output(tmp_path, "simulate-click-log", "clicks")
    assert (clicks / "clicks.jsonl").stat().st_size > 0
