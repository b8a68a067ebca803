"""Each loss on hand-made tensors whose right answer is known."""

import math

import pytest
import torch
import torch.nn.functional as F

from components.losses import (
    JudgeBCELoss,
    LabelShapeError,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    PearsonDistillationLoss,
    TextBatch,
    cosine_scores,
    in_batch_contrastive_loss,
    judge_bce_loss,
    listwise_kl_loss,
    margin_mse_loss,
    pearson_distillation_loss,
    truncate_embeddings,
)


def test_contrastive_matches_hand_computed_cross_entropy():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    d = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # row 0: logits [s, s] -> log 2; row 1: logits [0, 0] -> log 2
    assert float(in_batch_contrastive_loss(q, d, scale=5.0)) == pytest.approx(math.log(2))
    # perfect alignment with a large scale: near zero
    assert float(in_batch_contrastive_loss(torch.eye(3), torch.eye(3), scale=50.0)) < 1e-6


def test_contrastive_masks_same_group_negatives():
    q = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    d = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    unmasked = in_batch_contrastive_loss(q, d, scale=1.0)
    assert float(unmasked) == pytest.approx(math.log(2))
    masked = in_batch_contrastive_loss(q, d, scale=1.0, groups=torch.tensor([7, 7]))
    assert float(masked) == pytest.approx(0.0, abs=1e-6)


def test_contrastive_rejects_lists_and_bad_groups():
    with pytest.raises(LabelShapeError, match="pairs"):
        in_batch_contrastive_loss(torch.ones(2, 3), torch.ones(4, 3))
    with pytest.raises(LabelShapeError, match="group id per pair"):
        in_batch_contrastive_loss(torch.eye(2), torch.eye(2), groups=torch.tensor([1, 2, 3]))
    batch = TextBatch(["a"], ["x", "y"], list_size=2)
    with pytest.raises(LabelShapeError, match="pairs"):
        MultipleNegativesRankingLoss()(torch.ones(1, 2), torch.ones(2, 2), batch)


def test_pearson_is_zero_for_affine_teacher_and_two_for_reversed():
    s = torch.tensor([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    t = torch.tensor([[0.5, 0.6, 0.7], [0.1, 0.5, 0.9]])
    per_row = [0.0, 2.0]
    assert float(pearson_distillation_loss(s, t)) == pytest.approx(sum(per_row) / 2, abs=1e-5)


def test_pearson_skips_rows_with_constant_teacher():
    s = torch.tensor([[0.1, 0.9], [0.9, 0.1]])
    t = torch.tensor([[0.2, 0.8], [0.5, 0.5]])
    assert float(pearson_distillation_loss(s, t)) == pytest.approx(0.0, abs=1e-6)


def test_pearson_shape_errors_explain_the_fix():
    with pytest.raises(LabelShapeError, match="distillation_lists"):
        pearson_distillation_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(LabelShapeError, match="at least 2"):
        pearson_distillation_loss(torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(LabelShapeError, match="2-D"):
        pearson_distillation_loss(torch.zeros(3), torch.zeros(3))


def test_margin_mse_hand_computed():
    s = torch.tensor([[0.5, 0.0]])
    t = torch.tensor([[1.0, 0.0]])
    # margins: student ±0.5, teacher ±1.0 -> squared error 0.25 each
    assert float(margin_mse_loss(s, t)) == pytest.approx(0.25)
    assert float(margin_mse_loss(s, t, student_scale=2.0)) == pytest.approx(0.0)
    # a shift of all teacher scores changes nothing
    assert float(margin_mse_loss(s, t + 3.0)) == pytest.approx(0.25)


def test_listwise_kl_hand_computed():
    s = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[0.5, 0.5]])
    assert float(listwise_kl_loss(s, t)) == pytest.approx(0.0, abs=1e-6)
    # teacher probs 0.5/0.5 -> uniform target; student softmax [e/(1+e), 1/(1+e)]
    q1 = math.e / (1 + math.e)
    expected = 0.5 * math.log(0.5 / q1) + 0.5 * math.log(0.5 / (1 - q1))
    assert float(listwise_kl_loss(torch.tensor([[1.0, 0.0]]), t)) == pytest.approx(expected)
    with pytest.raises(LabelShapeError, match="probabilities"):
        listwise_kl_loss(s, torch.tensor([[1.5, 0.0]]))


def test_judge_bce_hand_computed_and_threshold():
    assert float(judge_bce_loss(torch.tensor([0.0]), torch.tensor([0.5]))) == pytest.approx(
        math.log(2))
    v = judge_bce_loss(torch.tensor([0.6]), torch.tensor([1.0]), scale=10.0, threshold=0.5)
    assert float(v) == pytest.approx(math.log1p(math.exp(-1.0)))
    with pytest.raises(LabelShapeError, match="p_relevant"):
        judge_bce_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(LabelShapeError, match="probabilities"):
        judge_bce_loss(torch.zeros(1), torch.tensor([2.0]))


def test_judge_bce_module_accepts_pair_labels():
    q = torch.tensor([[1.0, 0.0]])
    d = torch.tensor([[1.0, 0.0]])
    batch = TextBatch(["kp"], ["item"], labels=torch.tensor([1.0]))
    v = JudgeBCELoss(scale=10.0, threshold=0.5)(q, d, batch)
    assert float(v) == pytest.approx(math.log1p(math.exp(-5.0)))


def test_cosine_scores_and_truncation():
    q = torch.tensor([[3.0, 4.0, 0.0]])
    d = torch.tensor([[3.0, 4.0, 5.0], [0.0, 0.0, 1.0]])
    scores = cosine_scores(q, d, list_size=2)
    assert scores.shape == (1, 2)
    assert float(scores[0, 0]) == pytest.approx(25 / (5 * math.sqrt(50)))
    t = truncate_embeddings(d, 2)
    assert torch.allclose(t[0], torch.tensor([0.6, 0.8]))
    with pytest.raises(ValueError, match="truncate"):
        truncate_embeddings(d, 4)


def test_matryoshka_averages_losses_over_truncations():
    torch.manual_seed(0)
    q, d = torch.randn(2, 4), torch.randn(4, 4)
    batch = TextBatch(["a", "b"], ["w", "x", "y", "z"], list_size=2,
                      labels=torch.tensor([[0.9, 0.1], [0.2, 0.7]]))
    inner = PearsonDistillationLoss()
    full = inner(F.normalize(q, dim=-1), F.normalize(d, dim=-1), batch)
    half = inner(truncate_embeddings(q, 2), truncate_embeddings(d, 2), batch)
    wrapped = MatryoshkaLoss(inner, dims=(4, 2), weights=(1.0, 3.0))(q, d, batch)
    assert float(wrapped) == pytest.approx((float(full) + 3 * float(half)) / 4, rel=1e-5)


def test_text_batch_checks_list_size():
    with pytest.raises(ValueError, match="list_size"):
        TextBatch(["a", "b"], ["x", "y", "z"], list_size=2)
