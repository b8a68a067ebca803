"""The report of a real local run (the session's ``pipeline_run``): written under the run
folder and as the report step's KFP HTML/Markdown artifacts, and rendered by headless Chromium
(a screenshot under artifacts/test-output/), and the run's student evaluated on external
judgments."""

import json

import pytest

from components.settings import REPO_ROOT, artifacts_dir
from tests.evaluation.test_run_report import check_rendered

pytestmark = pytest.mark.slow


def test_the_run_report_is_written_where_the_user_and_kfp_look(pipeline_run):
    run, _ = pipeline_run
    html = (run / "report.html").read_text()
    markdown = (run / "report.md").read_text()
    for title in ("Baselines", "LLM judge vs human labels", "Cross-encoder (assistant)",
                  "Students (bi-encoders)",
                  "Training curves", "Matryoshka embeddings", "Recommendations for test-split"):
        assert title in html and title in markdown, title
    for figure in ("judge_calibration", "training_curves", "matryoshka"):
        assert (run / "report_files" / f"{figure}.png").is_file(), figure
    step = json.loads((run / "report-run" / "executor_output.json").read_text())
    artifacts = step["artifacts"]
    assert "html" in artifacts and "markdown" in artifacts
    kfp_html = (run / "report-run" / "html").read_text()
    assert kfp_html.count("data:image/png;base64,") == 3
    assert "data:image/png;base64," in (run / "report-run" / "markdown").read_text()
    rate = artifacts["metrics"]["artifacts"][0]["metadata"]
    assert rate["relevance.items"] == 6 and 0 <= rate["relevance.top_k_rate"] <= 1


def test_the_run_report_renders_in_headless_chromium(pipeline_run, chromium):
    run, _ = pipeline_run
    report = json.loads((run / "report.json").read_text())
    screenshot = artifacts_dir() / "test-output" / "run_report.png"
    rendered = chromium.render(run / "report.html", screenshot)
    check_rendered(rendered, sum(len(s["tables"]) for s in report["sections"]), 3)
    assert screenshot.stat().st_size > 50_000
    print(f"screenshot: {screenshot}")


def test_the_runs_student_on_external_judgments(pipeline_run, capsys):
    from components.evaluation.__main__ import main

    run, _ = pipeline_run
    example = REPO_ROOT / "docs" / "examples" / "judgments.json"
    assert main([str(run / "train-bi-encoder" / "student"), "--judgments", str(example),
                 "--dims", "64"]) == 0
    assert "| student_64 |" in capsys.readouterr().out
