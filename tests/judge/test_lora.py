"""The calibrated judge: LoRA fine-tuning of the tiny random judge on hand-made pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.data.esci import Item
from components.judge.backend import JudgeRequest
from components.judge.local import LocalJudge
from components.judge.lora import (
    JudgeLoraConfig,
    adapter_state,
    answer_token_groups,
    bucketed_batches,
    calibration_loss,
    left_pad,
    load_judge_lora,
    relevance_logit,
    save_judge_lora,
    train_judge_lora,
)

pytestmark = pytest.mark.slow

# Settings for a 2-layer random model: full-batch steps (each sees both groups, so the loss
# falls smoothly; mini-batches of 8 made it oscillate), no dropout, 12 steps.
FAST = dict(r=8, alpha=16, dropout=0.0, epochs=12, batch_size=24, learning_rate=5e-3,
            warmup_fraction=0.0, max_length=512)


def _judge(model_dir, prefix_cache: bool = True) -> LocalJudge:
    return LocalJudge(model_dir, "tiny", device="cpu", batch_size=8, prefix_cache=prefix_cache,
                      min_grade_mass=0.0)


def _pairs() -> list[tuple[JudgeRequest, str]]:
    """12 bottle pairs graded E and 12 socks pairs graded I: two clearly different groups."""
    pos = [JudgeRequest(Item(item_id=f"b{n}", title=f"Steel water bottle {n} liter"),
                        f"water bottle {n}") for n in range(12)]
    neg = [JudgeRequest(Item(item_id=f"s{n}", title=f"Wool socks size {n}"),
                        f"garden hose {n}") for n in range(12)]
    return [(r, "E") for r in pos] + [(r, "I") for r in neg]


def _p_relevant(judge: LocalJudge, requests) -> np.ndarray:
    return np.array([label.p_relevant for label in judge.judge(requests)])


def _gap(judge: LocalJudge, pairs) -> float:
    p = _p_relevant(judge, [r for r, _ in pairs])
    grades = np.array([g for _, g in pairs])
    return float(p[grades == "E"].mean() - p[grades == "I"].mean())


def _base_weights(judge: LocalJudge) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in judge.model.state_dict().items()}


@pytest.fixture(scope="module")
def trained(tiny_judge_dir):
    judge = _judge(tiny_judge_dir)
    pairs = _pairs()
    before_gap, before_p = _gap(judge, pairs), _p_relevant(judge, [r for r, _ in pairs])
    base = _base_weights(judge)
    stats = train_judge_lora(judge, pairs, JudgeLoraConfig(**FAST))
    return judge, pairs, before_gap, before_p, base, stats


# -- the objective on hand-made tensors -------------------------------------------------------
def test_relevance_logit_is_the_pooled_yes_no_contrast():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]])
    z = relevance_logit(logits, [1, 2], [3])
    expected = torch.logsumexp(torch.tensor([1.0, 2.0]), 0) - 3.0
    assert z[0].item() == pytest.approx(expected.item())
    assert torch.sigmoid(z[1]).item() == pytest.approx(2 / 3)


def test_calibration_loss_checks_target_shape_and_is_bce():
    logits = torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    loss = calibration_loss(logits, torch.tensor([1.0, 0.0]), [1], [2])
    assert loss.item() == pytest.approx(float(np.log1p(np.exp(-2.0))), rel=1e-5)
    with pytest.raises(ValueError, match="one gain per pair"):
        calibration_loss(logits, torch.tensor([[1.0, 0.0]]), [1], [2])


def test_answer_groups_split_at_the_relevance_cut():
    rel, other = answer_token_groups({"E": [5, 6], "I": [7]})
    assert rel == [5, 6] and other == [7]
    with pytest.raises(ValueError):
        answer_token_groups({"E": [5], "S": [6]})


def test_left_pad_puts_every_answer_position_last():
    ids, mask, positions = left_pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert positions[:, -1].tolist() == [2, 0]


@pytest.mark.parametrize("bad", [dict(r=0), dict(alpha=0), dict(dropout=1.0),
                                 dict(target_modules=()), dict(epochs=0), dict(batch_size=0),
                                 dict(learning_rate=0), dict(warmup_fraction=1.0),
                                 dict(max_length=1), dict(gains={"E": 1.0, "I": 0.0}),
                                 dict(gains={"E": 2.0, "S": 0.1, "C": 0.01, "I": 0.0})])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError, match="JudgeLoraConfig"):
        JudgeLoraConfig(**bad)


def test_default_config_is_the_esci_recipe(tmp_path):
    config = JudgeLoraConfig()
    assert (config.r, config.alpha, config.epochs, config.batch_size) == (16, 32, 2.0, 32)
    assert config.gains == {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}
    path = tmp_path / "lora.yaml"
    path.write_text("r: 4\ntarget_modules: [q_proj, v_proj]\n")
    loaded = JudgeLoraConfig.from_file(path)
    assert loaded.r == 4 and loaded.target_modules == ("q_proj", "v_proj")


def test_unknown_grade_raises(tiny_judge_dir):
    judge = _judge(tiny_judge_dir)
    with pytest.raises(ValueError, match="grade must be one of"):
        train_judge_lora(judge, [(_pairs()[0][0], "Yes")], JudgeLoraConfig(**FAST))


def test_pairs_longer_than_max_length_are_left_out(tiny_judge_dir):
    judge = _judge(tiny_judge_dir)
    with pytest.raises(ValueError, match="no training pair fits"):
        train_judge_lora(judge, _pairs(), JudgeLoraConfig(max_length=len(judge.prefix_ids)))


# -- training on the tiny model -----------------------------------------------------------
def test_training_lowers_the_loss_and_separates_the_groups(trained):
    judge, pairs, before_gap, before_p, _, stats = trained
    assert stats.steps == 12 and stats.examples == 24 and len(stats.losses) == 12
    assert np.mean(stats.losses[-3:]) < np.mean(stats.losses[:3]) - 0.1
    after_p = _p_relevant(judge, [r for r, _ in pairs])
    assert not np.allclose(after_p, before_p, atol=1e-4)  # judge() scores with the adapter
    assert _gap(judge, pairs) > before_gap + 0.2
    assert stats.examples_per_s > 0 and stats.best_epoch is None


def test_only_adapter_parameters_train(trained):
    judge, _, _, _, base, _ = trained
    trainable = {n for n, p in judge.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    for name, value in judge.model.get_base_model().state_dict().items():
        if "lora_" in name:
            continue
        key = name.replace(".base_layer", "")
        assert torch.equal(value, base[key]), name


def test_trained_judge_answers_the_same_with_and_without_prefix_cache(trained):
    judge, pairs, *_ = trained
    requests = [r for r, _ in pairs[::3]]
    cached = _p_relevant(judge, requests)
    judge.prefix_cache = False
    try:
        full = _p_relevant(judge, requests)
    finally:
        judge.prefix_cache = True
    np.testing.assert_allclose(cached, full, atol=1e-4)


def test_save_then_load_reproduces_the_scores(trained, tiny_judge_dir, tmp_path):
    judge, pairs, _, _, _, stats = trained
    requests = [r for r, _ in pairs]
    out = save_judge_lora(judge, tmp_path / "adapter", {"training_pairs": stats.examples,
                                                        "config": JudgeLoraConfig(**FAST)
                                                        .to_dict()})
    assert (out / "adapter_config.json").exists() and "tiny" in (out / "README.md").read_text()
    fresh = _judge(tiny_judge_dir, prefix_cache=False)
    card = load_judge_lora(fresh, out)
    assert card["training_pairs"] == 24 and card["prompt_version"] == judge.prompt_version
    np.testing.assert_allclose(_p_relevant(fresh, requests), _p_relevant(judge, requests),
                               atol=1e-5)
    other = LocalJudge(tiny_judge_dir, "another-model", device="cpu")
    with pytest.raises(ValueError, match="base_model"):
        load_judge_lora(other, out)


def test_validation_keeps_the_best_epoch(tiny_judge_dir):
    judge = _judge(tiny_judge_dir, prefix_cache=False)
    scores, states = iter([0.9, 0.5, 0.1]), []

    def validate() -> float:
        states.append(adapter_state(judge))
        judge.judge([_pairs()[0][0]])  # validation scores through the judge, mid-training
        return next(scores)

    config = JudgeLoraConfig(**{**FAST, "epochs": 3, "batch_size": 12})
    stats = train_judge_lora(judge, _pairs(), config, validate=validate)
    assert stats.validation == [0.9, 0.5, 0.1] and stats.best_epoch == 1
    final = adapter_state(judge)
    assert any(not torch.equal(states[0][k], states[2][k]) for k in final)
    for key, value in final.items():
        assert torch.equal(value, states[0][key]), key


@pytest.mark.parametrize("n,batch", [(0, 4), (3, 4), (37, 4), (64, 8), (100, 7)])
def test_bucketed_batches_cover_every_row_once_with_little_padding(n, batch):
    lengths = [(i * 37) % 101 for i in range(n)]
    batches = bucketed_batches(lengths, batch, torch.Generator().manual_seed(0), bucket_batches=4)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n))
    assert len(batches) == -(-n // batch)
    assert all(len(b) == batch for b in batches[: n // batch])
    window = [sorted(lengths[i] for i in b) for b in batches[: n // batch]]
    if n >= 4 * batch:  # within a window rows are sorted: a batch spans a narrow length band
        spread = [w[-1] - w[0] for w in window]
        assert sum(spread) / len(spread) < 50
