import pytest

from components.clicks.simulator import ClickLog, ClickRecord
from components.data.esci import Item
from components.data.splits import QuerySplit
from components.judge.labels import TeacherLabel
from components.training.config import PoolConfig
from components.training.examples import (
    HeldOut,
    clicked_pairs,
    distillation_lists,
    trainable_labels,
)
from components.training.pool import (
    PoolScore,
    build_pool,
    load_pool_scores,
    pool_summary,
    save_pool_scores,
    trainable_keyphrases,
)

ITEMS = {f"i{n}": Item(f"i{n}", f"item {n}") for n in range(6)}
SPLIT = QuerySplit({"q1": "train", "q2": "validation", "q3": "test"})
HELD = HeldOut(SPLIT, {"q1": "red shoe", "q2": "blue lamp", "q3": "green desk"})
LOG = ClickLog(
    records=[ClickRecord("q1", "red shoe", "i0", 1, 100, 5),
             ClickRecord("q1", "red shoe", "i1", 2, 100, 0),
             ClickRecord("q3", "green desk", "i2", 1, 100, 9)],
    filtered=[("q1", "i3"), ("q3", "i4")])


def label(keyphrase, qid, p=0.9):
    return TeacherLabel("i0", keyphrase, qid, "shown", "m", "v", "ok",
                        {"E": p, "S": 0.0, "C": 0.0, "I": 1 - p}, p, "E")


def test_held_out_queries_never_reach_training():
    assert [e.keyphrase for e in clicked_pairs(LOG, ITEMS, HELD)] == ["red shoe"]
    kept = trainable_labels([label("red shoe", "q1"), label("green desk", "q3"),
                             label("Blue  Lamp", None), label("sofa", None)], HELD)
    assert [lab.keyphrase for lab in kept] == ["red shoe", "sofa"]


def test_trainable_labels_budget_is_a_subset():
    labels = [label(f"kp{i}", None) for i in range(10)]
    assert len(trainable_labels(labels, HELD, budget=4, seed=1)) == 4


def test_distillation_lists_group_by_keyphrase_and_drop_remainders():
    scored = [("a", f"i{n}", n / 10) for n in range(5)] + [("b", "i0", 0.2)]
    lists = distillation_lists(scored, ITEMS, list_size=2)
    assert [ex.keyphrase for ex in lists] == ["a", "a"]
    assert all(len(ex.item_texts) == len(ex.teacher_scores) == 2 for ex in lists)
    with pytest.raises(ValueError, match="list_size"):
        distillation_lists(scored, ITEMS, list_size=1)


def test_pool_sources_and_held_out_keyphrases(tmp_path):
    import numpy as np

    config = PoolConfig(retrieved_per_keyphrase=2, random_per_keyphrase=1, use_wands=True)
    keyphrases = trainable_keyphrases(LOG, ["sofa", "green desk"], HELD, config)
    assert keyphrases == [("red shoe", "q1"), ("sofa", None)]

    def encode(texts):  # item n and keyphrase "sofa" close to items 4 and 5
        vecs = np.zeros((len(texts), 2))
        for row, text in enumerate(texts):
            vecs[row] = [1.0, 0.0] if text in ("item 4", "item 5", "sofa") else [0.0, 1.0]
        return vecs

    pool = build_pool(LOG, ITEMS, keyphrases, encode, config)
    by = {(p.keyphrase, p.item_id): p.source for p in pool}
    assert by[("red shoe", "i0")] == "clicked" and by[("red shoe", "i1")] == "shown"
    assert by[("red shoe", "i3")] == "filtered"
    assert by[("sofa", "i4")] == "retrieved" and by[("sofa", "i5")] == "retrieved"
    assert not any(k == "green desk" for k, _ in by)
    assert pool_summary(pool)["by_source"]["clicked"] == 1
    seen = []
    sampled = PoolConfig(retrieved_per_keyphrase=2, random_per_keyphrase=0,
                         retrieval_max_items=3)
    small = build_pool(LOG, ITEMS, keyphrases, lambda t: seen.append(t) or encode(t), sampled)
    assert len(seen[0]) == 3  # only a sample of the items is embedded for retrieval
    assert sum(p.source == "retrieved" for p in small) <= 4

    path = tmp_path / "scores.jsonl"
    save_pool_scores(path, [PoolScore("i0", "red shoe", "q1", "clicked", 0.7)])
    assert load_pool_scores(path)[0].score == 0.7
    path.write_text('{"item_id": "i0", "keyphrase": "k", "query_id": null, '
                    '"source": "random", "score": 1.5}\n')
    with pytest.raises(ValueError, match="not in"):
        load_pool_scores(path)
