"""Paired bootstrap over queries and averaging per-query values over seeds."""

from __future__ import annotations

import math

import pytest

from components.metrics.bootstrap import mean_over_seeds, paired_bootstrap

A = {f"q{i}": v for i, v in enumerate([0.9, 0.7, 0.8, 0.6, 0.95, 0.5, 0.75, 0.85, 0.65, 0.7])}


def test_identical_inputs_give_zero():
    result = paired_bootstrap(A, dict(A))
    assert result == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n_queries": 10,
                      "p_value_two_sided": 1.0}


def test_constant_shift_gives_interval_at_the_shift():
    result = paired_bootstrap(A, {q: v - 0.1 for q, v in A.items()})
    for key in ("mean", "ci_low", "ci_high"):
        assert result[key] == pytest.approx(0.1)
    assert result["p_value_two_sided"] == 0.0


def test_interval_excludes_zero_for_a_consistent_gain():
    b = {q: v - 0.1 + (0.03 if i % 2 else -0.03) for i, (q, v) in enumerate(A.items())}
    result = paired_bootstrap(A, b)
    assert result["mean"] == pytest.approx(0.1)
    assert 0 < result["ci_low"] < 0.1 < result["ci_high"]
    assert result["p_value_two_sided"] < 0.01


def test_interval_includes_zero_for_noise():
    b = {q: v + (0.2 if i % 2 else -0.2) for i, (q, v) in enumerate(A.items())}
    b["q0"] -= 0.02  # a small mean difference, much smaller than the spread
    result = paired_bootstrap(A, b)
    assert result["mean"] == pytest.approx(0.002)
    assert result["ci_low"] < 0 < result["ci_high"]
    assert result["p_value_two_sided"] > 0.5


def test_deterministic_for_a_seed_and_order_free():
    b = {q: v + (0.2 if i % 3 else -0.3) for i, (q, v) in enumerate(A.items())}
    first = paired_bootstrap(A, b, n_resamples=2000, seed=3)
    assert paired_bootstrap(dict(reversed(A.items())), b, n_resamples=2000, seed=3) == first
    assert paired_bootstrap(A, b, n_resamples=2000, seed=4) != first


def test_nan_drops_the_query_pairwise():
    a = {"q1": 0.5, "q2": math.nan, "q3": 0.7, "q4": 0.2}
    b = {"q1": 0.4, "q2": 0.1, "q3": math.nan, "q5": 0.9}
    result = paired_bootstrap(a, b)
    assert result["n_queries"] == 1 and result["mean"] == pytest.approx(0.1)


def test_no_shared_query_raises():
    with pytest.raises(ValueError, match="share no query"):
        paired_bootstrap({"q1": 0.5}, {"q2": 0.5})
    with pytest.raises(ValueError, match="share no query"):
        paired_bootstrap({"q1": math.nan}, {"q1": 0.5})
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(A, A, confidence=1.0)


def test_mean_over_seeds_keeps_queries_present_in_all():
    runs = [{"q1": 0.2, "q2": 0.4, "q3": 1.0}, {"q1": 0.4, "q2": 0.8}, {"q2": 0.6, "q1": 0.3}]
    assert mean_over_seeds(runs) == pytest.approx({"q1": 0.3, "q2": 0.6})
    with pytest.raises(ValueError, match="empty"):
        mean_over_seeds([])
