"""Each metric against cases computed by hand (comments show the arithmetic)."""

import math

import pytest

from components.data.esci import Judgment
from components.metrics.ranking import (
    evaluate_query_rankings,
    irrelevant_rate_at_k,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

LOG3 = math.log2(3)


def test_ndcg_without_ties():
    # DCG = 1/log2(2) + 0 + 0.1/log2(4) = 1.05; ideal E,S,I = 1 + 0.1/log2(3)
    assert ndcg_at_k([3, 2, 1], ["E", "I", "S"], 10) == pytest.approx(1.05 / (1 + 0.1 / LOG3))


def test_ndcg_perfect_and_reversed():
    assert ndcg_at_k([3, 2, 1], ["E", "S", "I"]) == pytest.approx(1.0)
    # reversed: I,S,E -> 0 + 0.1/log2(3) + 1/log2(4) = 0.0631 + 0.5
    assert ndcg_at_k([1, 2, 3], ["E", "S", "I"]) == pytest.approx(
        (0.1 / LOG3 + 0.5) / (1 + 0.1 / LOG3))


def test_ndcg_ties_are_averaged():
    # E and I tied: expected gain 0.5 at ranks 1 and 2 -> 0.5 * (1 + 1/log2 3); ideal 1
    assert ndcg_at_k([1, 1], ["E", "I"]) == pytest.approx(0.5 * (1 + 1 / LOG3))


def test_ndcg_tie_across_the_cutoff():
    # three tied, one E: expected gain 1/3 at rank 1; ideal@1 = 1
    assert ndcg_at_k([1, 1, 1], ["E", "I", "I"], k=1) == pytest.approx(1 / 3)


def test_ndcg_cutoff_ignores_lower_ranks():
    assert ndcg_at_k([3, 2, 1], ["I", "I", "E"], k=2) == 0.0


def test_no_relevant_product():
    assert math.isnan(ndcg_at_k([2, 1], ["I", "I"]))
    assert math.isnan(recall_at_k([2, 1], ["I", "I"]))
    assert math.isnan(mrr([2, 1], ["I", "I"]))
    assert precision_at_k([2, 1], ["I", "I"]) == 0.0
    # complements carry a small gain, so nDCG is defined; C is not "relevant"
    assert ndcg_at_k([2, 1], ["I", "C"]) == pytest.approx((0.01 / LOG3) / 0.01)
    assert math.isnan(recall_at_k([2, 1], ["I", "C"]))


def test_recall_precision():
    s, g = [4, 3, 2, 1], ["E", "S", "I", "E"]
    assert recall_at_k(s, g, 2) == pytest.approx(2 / 3)
    assert precision_at_k(s, g, 2) == pytest.approx(1.0)
    assert precision_at_k(s, g, 3) == pytest.approx(2 / 3)
    assert precision_at_k([2, 1], ["E", "I"], 10) == pytest.approx(0.5)  # k capped at length
    # ties: 2 relevant among 4 tied -> expected 1 relevant in top 2
    assert precision_at_k([1, 1, 1, 1], ["E", "I", "S", "I"], 2) == pytest.approx(0.5)


def test_mrr():
    assert mrr([3, 2, 1], ["I", "S", "E"]) == pytest.approx(0.5)
    assert mrr([3, 2, 1], ["E", "I", "I"]) == pytest.approx(1.0)
    # one relevant among three tied: ranks 1, 2, 3 equally likely
    assert mrr([1, 1, 1], ["I", "E", "I"]) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    # a higher irrelevant, then two tied of which one relevant: ranks 2 or 3
    assert mrr([5, 1, 1], ["I", "E", "I"]) == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_input_validation():
    with pytest.raises(ValueError, match="2 scores for 3"):
        ndcg_at_k([1, 2], ["E", "S", "I"])
    with pytest.raises(ValueError, match="unknown grades"):
        ndcg_at_k([1], ["X"])
    with pytest.raises(ValueError, match="NaN"):
        ndcg_at_k([float("nan"), 1], ["E", "I"])


def _j(q, i, g):
    return Judgment(q, f"query {q}", i, g)


def test_evaluate_query_rankings_macro_skips_undefined():
    judgments = [_j("q1", "a", "E"), _j("q1", "b", "I"), _j("q2", "c", "I"), _j("q2", "d", "I")]
    scores = {"q1": {"a": 1.0, "b": 0.0}, "q2": {"c": 1.0, "d": 0.5}}
    out = evaluate_query_rankings(scores, judgments, k=10)
    assert out["macro"]["ndcg@10"] == pytest.approx(1.0)
    assert out["queries_counted"]["ndcg@10"] == 1
    assert out["macro"]["precision@10"] == pytest.approx((0.5 + 0.0) / 2)
    assert out["queries_counted"]["precision@10"] == 2


def test_evaluate_query_rankings_requires_every_judged_item():
    with pytest.raises(ValueError, match="no score for 1 judged items"):
        evaluate_query_rankings({"q1": {"a": 1.0}}, [_j("q1", "a", "E"), _j("q1", "b", "I")])


def test_irrelevant_rate():
    judgments = [_j("q1", "a", "I"), _j("q3", "a", "E"), _j("q1", "b", "S")]
    recs = {"a": ["q1", "q2", "q3"], "b": ["q9"], "c": []}
    out = irrelevant_rate_at_k(recs, judgments, k=10)
    assert out == {"micro": 0.5, "macro": 0.5, "judged_pairs": 2, "items_counted": 1}
    # k cuts before the judged E
    assert irrelevant_rate_at_k(recs, judgments, k=2)["micro"] == 1.0
    assert math.isnan(irrelevant_rate_at_k({"c": ["q1"]}, judgments)["micro"])
