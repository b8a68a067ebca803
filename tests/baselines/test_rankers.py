import numpy as np
import pytest

from components.baselines.evaluate import evaluate_scorer
from components.baselines.rankers import BM25Ranker, EncoderRanker, RandomRanker, score_matrix
from components.baselines.results import markdown_table, merge_results
from components.models.pretrained import minilm_path

CORPUS = ["stainless steel kitchen towel rack", "red wool winter scarf",
          "bluetooth wireless earbuds", "kitchen paper towels 12 rolls"]


def test_random_is_reproducible_and_seeded():
    a = RandomRanker(0).score_pairs(["x", "y"], ["a", "b"])
    assert np.array_equal(a, RandomRanker(0).score_pairs(["x", "y"], ["a", "b"]))
    assert not np.array_equal(a, RandomRanker(1).score_pairs(["x", "y"], ["a", "b"]))


def test_bm25_prefers_matching_terms():
    bm25 = BM25Ranker(CORPUS + CORPUS[:1])  # duplicate texts are indexed once
    s = bm25.score_pairs(["kitchen towels"] * 4, CORPUS)
    assert s.argmax() == 3 and s[1] == 0 and s[2] == 0
    assert bm25.score_pairs(["zzzz"], [CORPUS[0]])[0] == 0  # out-of-vocabulary query
    with pytest.raises(KeyError):
        bm25.score_pairs(["kitchen"], ["a text not in the corpus"])


@pytest.mark.slow
def test_minilm_encoder_ranks_related_text_first():
    enc = EncoderRanker(minilm_path(), "minilm")
    vecs = enc.encode(CORPUS)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    m = score_matrix(enc, ["wireless headphones", "warm neck scarf"], CORPUS)
    assert m.shape == (4, 2)
    assert m[:, 0].argmax() == 2 and m[:, 1].argmax() == 1
    truncated = EncoderRanker(minilm_path(), "m64", truncate_dim=64).encode(CORPUS[:1])
    assert truncated.shape == (1, 64)


def test_evaluate_scorer_on_real_test_queries(bundle):
    test = bundle.judgments_in("test")
    corpus = [it.text() for it in bundle.items.values()]
    bm25 = evaluate_scorer(BM25Ranker(corpus), bundle.items, test, bundle.keyphrases,
                           ("title", "brand", "category"))
    rnd = evaluate_scorer(RandomRanker(0), bundle.items, test, bundle.keyphrases,
                          ("title", "brand", "category"))
    assert bm25["queries"] == 30
    assert 0 <= rnd["ndcg@10"] < bm25["ndcg@10"] <= 1
    assert bm25["judged_recommendations"] > 50


def test_results_merge_keeps_other_keys(tmp_path):
    path = tmp_path / "quality.json"
    merge_results(path, {"a": {"test": {"ndcg@10": 0.5}}})
    data = merge_results(path, {"b": {"test": {"ndcg@10": 0.6}}})
    assert set(data["models"]) == {"a", "b"}
    assert "| b | 0.6000" in markdown_table(data["models"], "test")


def test_bm25_keeps_jax_off_the_gpu():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    out = subprocess.run([sys.executable, "-c", "import os, components.baselines.rankers; "
                          "print(os.environ['JAX_PLATFORMS'])"], env=env, text=True,
                         capture_output=True, check=True)
    assert out.stdout.strip() == "cpu"
    env["JAX_PLATFORMS"] = "cuda"  # a caller's own choice stands
    out = subprocess.run([sys.executable, "-c", "import os, components.baselines.rankers; "
                          "print(os.environ['JAX_PLATFORMS'])"], env=env, text=True,
                         capture_output=True, check=True)
    assert out.stdout.strip() == "cuda"
