import math

import numpy as np
import pytest

from components.evaluation.evaluate import (
    aggregate_seeds,
    best_kappa_threshold,
    classification_report,
    metrics_markdown,
)


def test_classification_report_hand_computed():
    p = np.array([0.9, 0.8, 0.3, 0.1])
    y = np.array([1, 0, 1, 0])
    r = classification_report(p, y, threshold=0.5)
    assert r["confusion"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 1}
    assert r["accuracy"] == 0.5 and r["kappa"] == pytest.approx(0.0)
    assert r["auc"] == pytest.approx(0.75)


def test_best_kappa_threshold_separates_perfectly_separable_scores():
    p = np.array([0.1, 0.2, 0.7, 0.8])
    y = np.array([0, 0, 1, 1])
    t = best_kappa_threshold(p, y)
    assert 0.2 < t <= 0.7
    assert classification_report(p, y, t)["kappa"] == pytest.approx(1.0)


def test_aggregate_seeds_mean_and_sample_std():
    mean, std = aggregate_seeds([{"ndcg@10": 0.5}, {"ndcg@10": 0.7}], metrics=("ndcg@10",))
    assert mean["ndcg@10"] == pytest.approx(0.6)
    assert std["ndcg@10"] == pytest.approx(math.sqrt(0.02))
    mean, std = aggregate_seeds([{"ndcg@10": 0.5}], metrics=("ndcg@10",))
    assert math.isnan(std["ndcg@10"])


def test_metrics_markdown_shows_std_and_missing_values():
    text = metrics_markdown({"a": {"ndcg@10": 0.5, "irrelevant_rate@10": float("nan")}},
                            {"a": {"ndcg@10": 0.01}})
    assert "0.5000 ± 0.0100" in text and "—" in text
