"""Multi-dimensional distillation losses, on hand-made tensors."""

import math

import pytest
import torch

from components.losses import LabelShapeError, dimension_kl_loss, dimension_margin_loss


def test_dimension_kl_is_the_mean_kl_over_answered_cells_only():
    target = torch.tensor([[[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]])
    logits = torch.zeros(1, 2, 3)  # uniform prediction
    kl = [sum(p * math.log(p * 3) for p in row) for row in ([0.8, 0.1, 0.1], [0.1, 0.1, 0.8])]
    assert float(dimension_kl_loss(logits, target)) == pytest.approx(sum(kl) / 2, rel=1e-5)
    mask = torch.tensor([[1.0, 0.0]])
    assert float(dimension_kl_loss(logits, target, mask)) == pytest.approx(kl[0], rel=1e-5)
    nothing = dimension_kl_loss(logits.requires_grad_(), target, torch.zeros(1, 2))
    assert float(nothing) == 0.0
    nothing.backward()  # no answered cell: zero loss, and the step still runs


def test_dimension_kl_falls_as_the_heads_approach_the_judge():
    target = torch.tensor([[[0.7, 0.2, 0.1]]])
    far, near = torch.tensor([[[0.0, 3.0, 0.0]]]), target.log() + 0.1
    assert dimension_kl_loss(near, target) < dimension_kl_loss(far, target)


@pytest.mark.parametrize("logits,target,mask", [
    (torch.zeros(2, 3), torch.zeros(2, 3), None),                 # not 3-D
    (torch.zeros(2, 4, 2), torch.zeros(2, 4, 2), None),           # 2 answers, not 3
    (torch.zeros(2, 4, 3), torch.zeros(2, 5, 3), None),           # shapes differ
    (torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.ones(2, 5)),
])
def test_dimension_kl_rejects_bad_shapes_with_a_fix(logits, target, mask):
    with pytest.raises(LabelShapeError, match="TeacherLabel.dimensions"):
        dimension_kl_loss(logits, target, mask)


def _labels(match, weight):
    """[1, list, 2 * dims] from per-item lists of match probabilities and weights."""
    return torch.tensor([[m + w for m, w in zip(match, weight, strict=True)]])


def test_dimension_margin_penalises_a_non_match_scored_above_a_match():
    labels = _labels([[1.0], [0.0]], [[1.0], [1.0]])
    right = dimension_margin_loss(torch.tensor([[0.9, 0.2]]), labels, margin=0.1)
    wrong = dimension_margin_loss(torch.tensor([[0.2, 0.9]]), labels, margin=0.1)
    assert float(right) == 0.0
    assert float(wrong) == pytest.approx(0.8)  # margin 0.1 - (0.2 - 0.9)


def test_dimension_margin_ignores_unmentioned_dimensions_and_small_gaps():
    scores = torch.tensor([[0.2, 0.9]])  # the wrong order for the first dimension
    unmentioned = _labels([[1.0, 0.5], [0.0, 0.5]], [[0.0, 1.0], [0.0, 1.0]])
    assert float(dimension_margin_loss(scores, unmentioned)) == 0.0
    close = _labels([[0.6], [0.4]], [[1.0], [1.0]])
    assert float(dimension_margin_loss(scores, close, min_gap=0.5)) == 0.0
    assert float(dimension_margin_loss(scores, close, min_gap=0.1)) > 0.0


def test_dimension_margin_gradient_pushes_the_matching_item_up():
    scores = torch.tensor([[0.5, 0.5, 0.5]], requires_grad=True)
    labels = _labels([[1.0], [0.0], [1.0]], [[1.0], [1.0], [1.0]])
    dimension_margin_loss(scores, labels, margin=0.1).backward()
    grad = scores.grad[0]
    assert grad[0] < 0 and grad[2] < 0 and grad[1] > 0  # descent raises 0 and 2, lowers 1


@pytest.mark.parametrize("scores,labels", [
    (torch.zeros(3), torch.zeros(1, 3, 2)),
    (torch.zeros(1, 3), torch.zeros(1, 2, 2)),
    (torch.zeros(1, 3), torch.zeros(1, 3, 3)),  # odd: not match + weight per dimension
])
def test_dimension_margin_rejects_bad_shapes(scores, labels):
    with pytest.raises(LabelShapeError, match="dimension_lists"):
        dimension_margin_loss(scores, labels)
