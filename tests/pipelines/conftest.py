"""One local pipeline run for the whole session: the end-to-end tests (artifacts, the run
report in Chromium, evaluation of its student on external judgments) all read it instead of
each running the pipeline."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest

TINY_CONFIG = Path(__file__).with_name("tiny.yaml")


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory):
    """(run folder, what the terminal showed) of ``python -m pipelines.run_local --no-serve``
    at the smallest budgets, on 30 of the 150 ESCI queries (every evaluation and validation
    then scores a fifth of the pairs)."""
    from pipelines.run_local import main

    workdir = tmp_path_factory.mktemp("local-run")
    terminal = io.StringIO()
    with redirect_stdout(terminal):
        code = main(["--workdir", str(workdir), "--no-serve", "--judge-budget", "12",
                     "--training-config", str(TINY_CONFIG), "--baselines", "random", "bm25",
                     "--candidate-items", "200", "--mined-keyphrases", "300",
                     "--max-queries", "30", "--report-items", "6"])
    output = terminal.getvalue()
    assert code == 0, output
    runs = [p for p in workdir.iterdir() if p.is_dir() and p.name.startswith("kpdistill-")]
    assert len(runs) == 1, runs
    return runs[0], output
