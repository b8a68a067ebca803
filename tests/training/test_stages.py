"""The shared student stage: Search-relevance pairs, judge lists, variant tasks."""

import pytest
import torch

from components.judge.labels import TeacherLabel
from components.training.config import StudentConfig
from components.training.cross_encoder import _label_lists, listwise_teacher_loss
from components.training.examples import (
    ListExample,
    PairExample,
    query_lists,
    search_relevance_pairs,
)
from components.training.stages import VARIANT_TASKS, student_examples
from components.training.student import build_tasks
from tests.training.test_examples_and_pool import HELD, ITEMS, LOG


def _label(keyphrase, item, p):
    return TeacherLabel(item, keyphrase, None, "retrieved", "m", "v", "ok",
                        {"E": p, "S": 0.0, "C": 0.0, "I": 1 - p}, p, "E")


def test_search_relevance_pairs_are_shown_1_filtered_0_on_train_queries_only():
    pairs = search_relevance_pairs(LOG, ITEMS, HELD)
    assert [(p.keyphrase, p.item_text, p.label) for p in pairs] == [
        ("red shoe", "item 0", 1.0), ("red shoe", "item 1", 1.0), ("red shoe", "item 3", 0.0)]


def test_student_examples_build_only_the_named_tasks():
    labels = [_label("sofa", f"i{n}", n / 10) for n in range(6)]
    pool = [("sofa", f"i{n}", n / 6) for n in range(6)]
    config = StudentConfig(tasks=VARIANT_TASKS["click_sr"])
    ex = student_examples(config, LOG, ITEMS, HELD, labels, pool)
    assert ex.counts() == {"clicks": 1, "sr": 3, "distill_lists": 0, "judge": 0,
                           "judge_query_lists": 0, "dimension_lists": 0}
    config = StudentConfig(tasks=VARIANT_TASKS["distilled"], judge_loss="pearson",
                           judge_list_size=3, distill_list_size=2)
    ex = student_examples(config, LOG, ITEMS, HELD, labels, pool)
    assert ex.counts() == {"clicks": 1, "sr": 3, "distill_lists": 3, "judge": 2,
                           "judge_query_lists": 0, "dimension_lists": 0}
    assert all(isinstance(e, ListExample) and len(e.item_texts) == 3 for e in ex.judge)
    tasks = build_tasks(config, ex.clicks, ex.distill, ex.judge, ex.sr)
    assert [t.name for t in tasks] == ["clicks", "sr", "distill", "judge"]
    bce = student_examples(StudentConfig(tasks=("judge",)), LOG, ITEMS, HELD, labels)
    assert all(isinstance(e, PairExample) for e in bce.judge)


def _query_label(query_id, item, p):
    return TeacherLabel(item, f"query {query_id}", query_id, "judged", "m", "v", "ok",
                        {"E": p, "S": 0.0, "C": 0.0, "I": 1 - p}, p, "E")


def test_query_lists_draw_lists_of_each_querys_own_labelled_items():
    items = ITEMS
    labels = ([_query_label("q1", f"i{n}", n / 10) for n in range(5)]
              + [_query_label("q2", f"i{n}", 0.5) for n in range(2)]   # too few items
              + [_label("sofa", f"i{n}", 0.3) for n in range(6)])       # no query: not here
    lists = query_lists(labels, items, list_size=4, per_query=3, seed=1)
    assert len(lists) == 3 and {e.keyphrase for e in lists} == {"query q1"}
    for e in lists:
        assert len(set(e.item_texts)) == 4  # an item at most once a list
        assert [float(t.split()[1]) / 10 for t in e.item_texts] == list(e.teacher_scores)
    assert lists == query_lists(labels, items, list_size=4, per_query=3, seed=1)
    with pytest.raises(ValueError, match="list_size"):
        query_lists(labels, items, list_size=1, per_query=3)


def test_judge_query_takes_the_query_labels_and_leaves_the_rest_to_judge():
    items = ITEMS
    labels = ([_query_label("q1", f"i{n}", n / 10) for n in range(6)]
              + [_label("sofa", f"i{n}", n / 10) for n in range(6)])
    config = StudentConfig(tasks=("judge", "judge_query"), judge_loss="pearson",
                           judge_list_size=3, judge_query_list_size=4,
                           judge_query_lists_per_query=2)
    ex = student_examples(config, LOG, items, HELD, labels)
    assert {e.keyphrase for e in ex.judge} == {"sofa"} and len(ex.judge) == 2
    assert {e.keyphrase for e in ex.judge_query} == {"query q1"} and len(ex.judge_query) == 2
    tasks = build_tasks(config, judge=ex.judge, judge_query=ex.judge_query)
    assert [(t.name, t.batch_size) for t in tasks] == [("judge", 64), ("judge_query", 8)]
    alone = student_examples(StudentConfig(tasks=("judge",), judge_loss="pearson",
                                           judge_list_size=3), LOG, items, HELD, labels)
    assert len(alone.judge) == 4  # without judge_query, the query labels stay in judge


def test_student_config_rejects_unknown_tasks_and_judge_losses():
    with pytest.raises(ValueError, match="clicks/sr/distill/judge"):
        StudentConfig(tasks=("clicks", "ctr"))
    with pytest.raises(ValueError, match="judge_loss"):
        StudentConfig(judge_loss="mse")


def test_listwise_teacher_loss_is_zero_when_logits_match_the_judge_order_exactly():
    p = torch.tensor([[0.9, 0.5, 0.2], [0.6, 0.3, 0.7]])
    logits = torch.log(p / (1 - p))
    assert listwise_teacher_loss(logits, p).item() == pytest.approx(0.0, abs=1e-6)
    assert listwise_teacher_loss(logits + 3.0, p).item() == pytest.approx(0.0, abs=1e-6)
    assert listwise_teacher_loss(-logits, p).item() > 0.1
    with pytest.raises(ValueError, match="group the teacher labels by keyphrase"):
        listwise_teacher_loss(logits[:, :1], p[:, :1])


def test_label_lists_group_by_keyphrase_and_drop_remainders():
    import random

    examples = [("a", f"t{n}", None) for n in range(5)] + [("b", "t", None)]
    lists = _label_lists(examples, 2, random.Random(0))
    assert len(lists) == 2 and all({e[0] for e in group} == {"a"} for group in lists)
    with pytest.raises(ValueError, match="no keyphrase"):
        _label_lists(examples, 8, random.Random(0))


def _dim_label(keyphrase, item, type_yes, na=0.0):
    from dataclasses import replace

    rest = 1.0 - type_yes - na
    return replace(_label(keyphrase, item, 0.5),
                   dimensions={"type": {"yes": type_yes, "no": rest, "na": na}})


def test_dimension_lists_carry_match_then_weight_per_dimension():
    from components.training.examples import dimension_lists, dimension_vector

    assert dimension_vector(None, ("type",)) is None
    assert dimension_vector({"type": {"yes": 0.3, "no": 0.1, "na": 0.6}}, ("type", "brand")) \
        == pytest.approx((0.75, 0.5, 0.4, 0.0))
    assert dimension_vector({"brand": {"yes": 0.0, "no": 0.0, "na": 1.0}}, ("brand",)) is None
    labels = ([_dim_label("sofa", f"i{n}", n / 10) for n in range(5)]
              + [_label("sofa", "i5", 0.9)])                      # no answers: left out
    lists = dimension_lists(labels, ITEMS, list_size=2, names=("type", "size"), seed=0)
    assert len(lists) == 2 and all(len(e.item_texts) == 2 for e in lists)
    for e in lists:
        for text, vec in zip(e.item_texts, e.teacher_scores, strict=True):
            n = int(text.split()[1])  # type: yes n/10, no the rest; size: never answered
            assert vec == pytest.approx((n / 10, 0.5, 1.0, 0.0))


def test_the_dimensions_task_builds_from_labels_with_answers():
    labels = [_dim_label("sofa", f"i{n}", n / 10, na=0.1) for n in range(6)]
    config = StudentConfig(tasks=("dimensions",), dimension_list_size=3,
                           dimension_batch_size=2)
    ex = student_examples(config, LOG, ITEMS, HELD, labels)
    assert ex.counts()["dimension_lists"] == 2
    tasks = build_tasks(config, dimensions=ex.dimensions)
    assert [(t.name, t.batch_size) for t in tasks] == [("dimensions", 2)]
    from components.training.multitask import collate
    batch = collate(list(ex.dimensions))
    assert tuple(batch.labels.shape) == (2, 3, 2 * len(config.dimension_names))
