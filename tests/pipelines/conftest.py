"""One local pipeline run for the whole session: the end-to-end tests (artifacts, the run
report in Chromium, evaluation of its student on external judgments) all read it instead of
each running the pipeline."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

TINY_CONFIG = Path(__file__).with_name("tiny.yaml")


def one_layer_minilm(out: Path) -> Path:
    """MiniLM cut to its first transformer layer, as a sentence-transformers directory: the
    same tokenizer, embeddings, pooling and 384 dimensions, a sixth of the forward cost."""
    from sentence_transformers import SentenceTransformer

    from components.models.pretrained import minilm_path

    model = SentenceTransformer(str(minilm_path()), device="cpu")
    bert = model[0].auto_model
    bert.encoder.layer = bert.encoder.layer[:1]
    bert.config.num_hidden_layers = 1
    model.save(str(out))
    return out


def tiny_training_config(out: Path, base_model: Path) -> Path:
    """tests/pipelines/tiny.yaml with both the cross-encoder and the students started from
    ``base_model`` (the run checks wiring and artifacts, not what the models learn)."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    for section in ("cross_encoder", "student"):
        config[section]["base_model"] = str(base_model)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory):
    """(run folder, what the terminal showed) of ``python -m pipelines.run_local --no-serve``
    at the smallest budgets, on 30 of the 150 ESCI queries (every evaluation and validation
    then scores a fifth of the pairs), the models started from a one-layer MiniLM."""
    from pipelines.run_local import main

    models = tmp_path_factory.mktemp("base-model")
    config = tiny_training_config(models / "tiny.yaml", one_layer_minilm(models / "minilm-1"))
    workdir = tmp_path_factory.mktemp("local-run")
    terminal = io.StringIO()
    with redirect_stdout(terminal):
        code = main(["--workdir", str(workdir), "--no-serve", "--judge-budget", "12",
                     "--training-config", str(config), "--baselines", "random", "bm25",
                     "--candidate-items", "200", "--mined-keyphrases", "300",
                     "--max-queries", "30", "--report-items", "6"])
    output = terminal.getvalue()
    assert code == 0, output
    runs = [p for p in workdir.iterdir() if p.is_dir() and p.name.startswith("kpdistill-")]
    assert len(runs) == 1, runs
    return runs[0], output
