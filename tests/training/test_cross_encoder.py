import math

import pytest
import torch

from components.training.config import DEMO_CONFIG, FULL_CONFIG, CrossEncoderConfig, load_config
from components.training.cross_encoder import CrossEncoderScorer, kl_grade_loss, train_cross_encoder
from tests.training.fixtures import hand_made_labels


def test_kl_grade_loss_zero_on_match_and_known_value():
    probs = torch.tensor([[0.7, 0.1, 0.1, 0.1]])
    assert float(kl_grade_loss(torch.log(probs), probs)) == pytest.approx(0.0, abs=1e-6)
    uniform = torch.zeros(1, 4)
    expected = sum(p * math.log(p / 0.25) for p in (0.7, 0.1, 0.1, 0.1))
    assert float(kl_grade_loss(uniform, probs)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="grade probabilities"):
        kl_grade_loss(torch.zeros(2, 1), torch.zeros(2, 4))


def test_configs_load_and_reject_unknown_keys(tmp_path):
    assert load_config(DEMO_CONFIG).student.max_steps < load_config(FULL_CONFIG).student.max_steps
    bad = tmp_path / "bad.yaml"
    bad.write_text("student: {max_step: 3}\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(bad)
    with pytest.raises(ValueError, match="objective"):
        CrossEncoderConfig(objective="mse")


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["bce", "kl"])
def test_cross_encoder_trains_saves_and_scores_probabilities(tmp_path, tiny_model_dir,
                                                             objective):
    from components.data import load_items, load_judgments

    items, judgments = load_items(), load_judgments()
    labels = hand_made_labels(judgments[:200], 64)
    config = CrossEncoderConfig(base_model=str(tiny_model_dir), objective=objective,
                                max_steps=4, batch_size=8, max_length=48)
    ce, stats = train_cross_encoder(labels, items, config, tmp_path / "ce",
                                    device=torch.device("cpu"))
    assert stats.steps == 4 and stats.examples == 32
    scorer = CrossEncoderScorer.load(tmp_path / "ce", device="cpu")
    p = scorer.score_pairs(["red shoe", "lamp", "x"], ["a red shoe", "desk lamp", "y"])
    assert p.shape == (3,) and ((p >= 0) & (p <= 1)).all()
    with pytest.raises(ValueError, match="keyphrases"):
        scorer.score_pairs(["a"], [])
