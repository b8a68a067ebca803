"""A rater's threshold chosen on human-labelled pairs, and the relevance rate at it."""

import numpy as np
import pytest

from components.evaluation.relevance import (
    RaterThreshold,
    Recommendation,
    estimated_relevant_share,
    relevance_rate,
    separating_threshold,
    wilson_interval,
)


def test_separating_threshold_splits_an_uncalibrated_rater():
    # Every P is below 0.5, yet the rater separates perfectly at 0.40.
    p = [0.30, 0.32, 0.35, 0.40, 0.42, 0.45]
    cut = separating_threshold(p, [False, False, False, True, True, True], "hand-made")
    assert cut.threshold == pytest.approx(0.40)
    assert (cut.tpr, cut.fpr, cut.auc, cut.youden_j) == (1.0, 0.0, 1.0, 1.0)
    assert (cut.pairs, cut.relevant_pairs, cut.chosen_on) == (6, 3, "hand-made")


def test_separating_threshold_ignores_the_class_mix():
    # Many more relevant pairs than irrelevant (as in ESCI): the cut maximises TPR - FPR,
    # not accuracy (which would call everything relevant).
    p = np.r_[np.full(90, 0.6), np.full(10, 0.2), np.full(8, 0.2), np.full(2, 0.6)]
    y = np.r_[np.ones(100, bool), np.zeros(10, bool)]
    cut = separating_threshold(p, y)
    assert cut.threshold == pytest.approx(0.6)
    assert cut.tpr == pytest.approx(0.9) and cut.fpr == pytest.approx(0.2)


def test_separating_threshold_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        separating_threshold([0.1, 0.9], [True, True])
    with pytest.raises(ValueError, match="one P per pair"):
        separating_threshold([0.1, 0.9, 0.5], [True, False])


def test_estimated_share_corrects_for_the_raters_errors():
    cut = RaterThreshold(0.4, tpr=0.8, fpr=0.2, auc=0.8, pairs=10, relevant_pairs=5)
    assert estimated_relevant_share(0.5, cut) == pytest.approx(0.5)
    assert estimated_relevant_share(0.8, cut) == pytest.approx(1.0)
    assert estimated_relevant_share(0.1, cut) == 0.0  # clipped
    blind = RaterThreshold(0.4, tpr=0.5, fpr=0.5, auc=0.5, pairs=10, relevant_pairs=5)
    assert estimated_relevant_share(0.5, blind) is None


def test_wilson_interval():
    lo, hi = wilson_interval(48, 96)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.196, abs=0.005)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


def test_relevance_rate_at_a_chosen_threshold():
    recs = [Recommendation("a", 1, "x", "esci", 0.9, rater_p=0.41, human_grade="E"),
            Recommendation("a", 2, "y", "mined", 0.8, rater_p=0.39, human_grade="I"),
            Recommendation("b", 1, "z", "mined", 0.7, rater_p=0.45)]
    assert relevance_rate(recs)["rate"] == 0.0  # the fixed 0.5 cut
    cut = RaterThreshold(0.40, tpr=0.75, fpr=0.25, auc=0.8, pairs=8, relevant_pairs=4,
                         chosen_on="train")
    out = relevance_rate(recs, cut)
    assert out["threshold"] == 0.40 and out["rate"] == pytest.approx(2 / 3)
    assert out["calibration"]["chosen_on"] == "train"
    assert out["calibration"]["youden_j"] == pytest.approx(0.5)
    assert out["estimated_relevant_share"] == pytest.approx((2 / 3 - 0.25) / 0.5)
    assert out["by_source"]["mined"] == {"pairs": 2, "rate": 0.5}
    assert out["human_relevant_share"] == 0.5 and out["rate_on_human_graded"] == 0.5
    assert out["rate_interval"][0] < 2 / 3 < out["rate_interval"][1]
