from collections import Counter

import pytest

from components.clicks.simulator import ClickLog, ClickRecord
from components.data import load_items, load_judgments, split_queries
from components.judge.candidates import (
    CandidateConfig,
    allocate,
    eval_sample,
    training_candidates,
)


@pytest.fixture(scope="module")
def data():
    judgments = load_judgments()
    items = load_items()
    split = split_queries(sorted({j.query_id for j in judgments}))
    return items, judgments, split


@pytest.fixture(scope="module")
def click_log(data):
    """A small log over real judged pairs of all splits: even rows clicked, odd not, every
    fifth pair filtered by Search."""
    _, judgments, _ = data
    records, filtered = [], []
    for n, j in enumerate(judgments[::7]):
        if n % 5 == 0:
            filtered.append((j.query_id, j.item_id))
        else:
            records.append(ClickRecord(j.query_id, j.query, j.item_id, 1 + n % 10, 100,
                                       3 if n % 2 == 0 else 0))
    return ClickLog(records, filtered)


class TinyEncoder:
    """Real MiniLM, loaded once."""

    def __init__(self):
        from components.baselines.rankers import EncoderRanker
        from components.models.pretrained import minilm_path
        self.ranker = EncoderRanker(minilm_path(), "minilm")

    def encode(self, texts):
        return self.ranker.encode(texts)


@pytest.fixture(scope="module")
def encoder():
    return TinyEncoder()


def test_allocate_passes_shortfall_on():
    shares = {"clicked": 0.5, "shown": 0.5, "filtered": 0, "retrieved": 0, "random": 0}
    out = allocate(10, shares, {"clicked": 2, "shown": 100, "random": 100})
    assert out["clicked"] == 2 and out["shown"] == 8 and sum(out.values()) == 10


def test_allocate_fills_from_any_source_when_short():
    shares = {"clicked": 1.0}
    out = allocate(10, shares, {"clicked": 3, "random": 50})
    assert out["clicked"] == 3 and out["random"] == 7


@pytest.mark.slow
def test_training_candidates_budget_sources_train_only_deterministic(data, click_log, encoder):
    items, judgments, split = data
    config = CandidateConfig(budget=200, retrieval_max_items=80, retrieval_top_k=3)
    pairs = training_candidates(items, judgments, split, click_log, config, encoder)
    assert len(pairs) == 200
    assert len({p.key for p in pairs}) == 200
    train = set(split.queries("train"))
    assert all(p.query_id in train for p in pairs), "no validation/test keyphrase may leak"
    counts = Counter(p.source for p in pairs)
    assert set(counts) == {"clicked", "shown", "filtered", "retrieved", "random"}
    filtered = {(q, i) for q, i in click_log.filtered}
    assert all((p.query_id, p.item_id) in filtered for p in pairs if p.source == "filtered")
    again = training_candidates(items, judgments, split, click_log, config, encoder)
    assert again == pairs


def test_seed_changes_the_sample(data, click_log):
    items, judgments, split = data
    a = training_candidates(items, judgments, split, click_log, CandidateConfig(budget=50))
    b = training_candidates(items, judgments, split, click_log, CandidateConfig(budget=50, seed=5))
    assert a != b and len(b) == 50


def test_without_encoder_retrieval_share_goes_elsewhere(data, click_log):
    items, judgments, split = data
    pairs = training_candidates(items, judgments, split, click_log, CandidateConfig(budget=50))
    assert len(pairs) == 50 and not any(p.source == "retrieved" for p in pairs)


def test_eval_sample_is_stratified_and_outside_train(data):
    _, judgments, split = data
    sample = eval_sample(judgments, split, per_grade=10)
    assert Counter(j.grade for j in sample) == {"E": 10, "S": 10, "C": 10, "I": 10}
    assert not {j.query_id for j in sample} & set(split.queries("train"))
    assert sample == eval_sample(judgments, split, per_grade=10)


def test_bad_shares_are_refused():
    with pytest.raises(ValueError, match="unknown sources"):
        CandidateConfig(shares={"clicks": 1.0})
