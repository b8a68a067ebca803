"""The whole experiment end to end on a tiny model and a few queries (plumbing, not quality)."""

import json

import pytest
import yaml

from tests.training.fixtures import write_hand_made_labels


@pytest.mark.slow
def test_experiment_end_to_end_writes_reports_and_models(tmp_path, tiny_model_dir):
    from components.data import load_judgments
    from components.training.experiment import main

    config = {
        "pool": {"retrieved_per_keyphrase": 4, "random_per_keyphrase": 2, "use_wands": True,
                 "max_keyphrases": 6},
        "cross_encoder": {"max_steps": 3, "batch_size": 8, "max_length": 48, "eval_every": 3},
        "student": {"max_steps": 4, "click_batch_size": 8, "distill_batch_size": 2,
                    "distill_list_size": 4, "judge_batch_size": 8, "eval_every": 2,
                    "max_seq_length": 48, "matryoshka_dims": [64, 32]},
        "experiment": {"seeds": [0, 1], "compare_kl": True, "anchor": False,
                       "max_queries_per_split": 2, "max_extra_keyphrases": 5,
                       "cross_encoder_sweep": [{"max_steps": 2}, {"max_steps": 3}],
                       "distill_weights": [0.5, 1.0]},
    }
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(config))
    labels = write_hand_made_labels(tmp_path / "labels.jsonl", load_judgments(), 2000)
    out, models = tmp_path / "results", tmp_path / "models"
    assert main(["--config", str(config_path), "--teacher-labels", str(labels),
                 "--base-model", str(tiny_model_dir), "--out", str(out),
                 "--models-dir", str(models)]) == 0

    quality = json.loads((out / "quality.json").read_text())["models"]
    for key in ("click_only", "one_step", "distilled", "distilled_32", "cross_encoder"):
        assert 0.0 <= quality[key]["test"]["ndcg@10"] <= 1.0, key
    assert quality["distilled"]["seeds"] == 2 and "test_std" in quality["distilled"]
    report = json.loads((out / "training.json").read_text())
    assert set(report["cross_encoder"]) == {"bce", "kl"}
    sweep = report["cross_encoder"]["bce"]["sweep"]  # validation picks the shipped setting
    assert len(sweep) == 2 and report["cross_encoder"]["bce"]["train"]["steps"] in (2, 3)
    weights = report["students"]["distill_weight_sweep"]
    assert [w["distill_weight"] for w in weights] == [0.5, 1.0]
    assert report["pool"]["pairs"] > 0 and report["pool"]["pairs_per_s"] > 0
    assert "distilled - click_only" in report["noise"]
    assert (out / "training.png").stat().st_size > 0
    assert "Differences against seed noise" in (out / "training.md").read_text()

    from sentence_transformers import CrossEncoder, SentenceTransformer

    scores = CrossEncoder(str(models / "cross_encoder")).predict([("red shoe", "a red shoe")])
    assert 0.0 <= float(scores[0]) <= 1.0
    emb = SentenceTransformer(str(models / "student")).encode(["red shoe"])
    assert emb.shape == (1, 64)
    assert "Losses" in (models / "student" / "README.md").read_text()
    rows = [json.loads(line) for line in (models / "pool_scores.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {"item_id", "keyphrase", "query_id", "source", "score"}
