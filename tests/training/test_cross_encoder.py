import math
import random

import numpy as np
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
    with pytest.raises(ValueError, match="Unexpected keyword argument"):
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


def _real_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    from components.contracts import ITEM_FIELDS
    from components.data import load_items, load_judgments

    items, judgments = load_items(), load_judgments()
    rng = random.Random(seed)
    rows = rng.sample(judgments, n)
    return [r.query for r in rows], [items[rng.choice(rows).item_id].text(ITEM_FIELDS)
                                     for r in rows]


@pytest.mark.parametrize("max_length", [12, 24, 48, 128])
def test_pair_tokens_equal_the_tokenizers_pair_encoding(max_length):
    """Cached per-text ids assembled into pairs = the fast tokenizer's own pair encoding,
    truncation included (long items, long keyphrases, both cut)."""
    from transformers import AutoTokenizer

    from components.models.pretrained import minilm_path
    from components.training.cross_encoder import PairTokens

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    keyphrases, items = _real_pairs(300)
    keyphrases += [" ".join(["very long keyphrase"] * 12), "a", "lamp"]
    items += ["tiny", " ".join(["long item text"] * 30), "desk lamp with a clamp"]
    tokens = PairTokens(tokenizer, max_length)
    assert tokens.exact
    got = tokens.features(keyphrases, items, torch.device("cpu"))
    want = tokenizer(keyphrases, items, padding=True, truncation=True, max_length=max_length,
                     return_tensors="pt")
    assert set(got) == set(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    assert tokens.lengths(keyphrases, items) == want["attention_mask"].sum(dim=1).tolist()


def test_scorer_scores_match_per_pair_scoring_in_input_order(tiny_model_dir, tmp_path):
    """Length-sorted, pre-tokenized batches give each pair the score it gets alone."""
    config = CrossEncoderConfig(base_model=str(tiny_model_dir), max_length=48)
    from components.training.cross_encoder import build_cross_encoder

    ce = build_cross_encoder(config, torch.device("cpu"))
    scorer = CrossEncoderScorer(ce, 48, batch_size=7)
    keyphrases, items = _real_pairs(40, seed=3)
    batched = scorer.score_pairs(keyphrases, items)
    alone = np.array([scorer.score_pairs([k], [t])[0] for k, t in zip(keyphrases, items,
                                                                       strict=True)])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert scorer.score_pairs([], []).shape == (0,)


def _with_dimensions(labels, answer):
    from dataclasses import replace

    brand = {"yes": 0.1, "no": 0.1, "na": 0.8}
    return [replace(lab, dimensions={"type": answer, "brand": brand}) if n % 2 == 0 else lab
            for n, lab in enumerate(labels)]


@pytest.mark.slow
def test_dimension_heads_learn_the_judges_answers_and_leave_relevance_at_logit_0(
        tmp_path, tiny_model_dir):
    from components.contracts import JUDGE_DIMENSIONS
    from components.data import load_items, load_judgments

    items, judgments = load_items(), load_judgments()
    labels = _with_dimensions(hand_made_labels(judgments[:200], 64),
                              {"yes": 0.9, "no": 0.05, "na": 0.05})
    config = CrossEncoderConfig(base_model=str(tiny_model_dir), objective="bce", max_steps=30,
                                batch_size=16, max_length=48, learning_rate=1e-3,
                                dimension_weight=1.0)
    train_cross_encoder(labels, items, config, tmp_path / "ce", device=torch.device("cpu"))
    scorer = CrossEncoderScorer.load(tmp_path / "ce", device="cpu")
    assert scorer.dimensions == JUDGE_DIMENSIONS
    kps, texts = [lab.keyphrase for lab in labels[:6]], [items[lab.item_id].text()
                                                          for lab in labels[:6]]
    est = scorer.dimension_estimates(kps, texts)
    assert est.shape == (6, len(JUDGE_DIMENSIONS), 3)
    assert np.allclose(est.sum(-1), 1.0, atol=1e-5)
    assert est[:, 0, 0].mean() > 0.6      # type: the judge said yes (0.9)
    assert est[:, 1, 2].mean() > 0.5      # brand: the judge said not mentioned (0.8)
    p = scorer.score_pairs(kps, texts)
    assert p.shape == (6,) and ((p >= 0) & (p <= 1)).all()
    from components.export.graphs import load_score_graph  # the export serves both
    graph = load_score_graph(tmp_path / "ce")
    with torch.inference_mode():
        served, heads = graph(**scorer.tokens.features(kps, texts, torch.device("cpu")))
    assert served.shape == (6, 1) and np.allclose(served[:, 0].numpy(), p, atol=1e-5)
    assert graph.output_names == ("score", "dimensions")
    assert np.allclose(heads.numpy(), est, atol=1e-5)
    plain = train_cross_encoder(labels, items, CrossEncoderConfig(
        base_model=str(tiny_model_dir), max_steps=1, batch_size=4, max_length=48),
        tmp_path / "plain", device=torch.device("cpu"))[0]
    with pytest.raises(ValueError, match="dimension_weight"):
        CrossEncoderScorer(plain).dimension_estimates(kps, texts)


def test_dimension_targets_stack_answers_and_mask_the_missing():
    from components.training.cross_encoder import dimension_targets

    labels = _with_dimensions(hand_made_labels(load_judgments_once()[:4], 4),
                              {"yes": 0.6, "no": 0.3, "na": 0.1})
    target, mask = dimension_targets(labels, ("type", "brand", "size"))
    assert target.shape == (4, 3, 3) and mask.tolist()[0] == [1.0, 1.0, 0.0]
    assert mask[1].sum() == 0  # an odd label carries no dimensions
    assert torch.allclose(target[0, 0], torch.tensor([0.6, 0.3, 0.1]))
    with pytest.raises(ValueError, match="kl"):
        CrossEncoderConfig(objective="kl", dimension_weight=0.5)


def load_judgments_once():
    from components.data import load_judgments
    return load_judgments()
