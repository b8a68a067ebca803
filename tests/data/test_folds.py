"""Query cross-validation folds."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from components.data.folds import query_folds
from components.data.splits import SPLITS, QuerySplit

IDS = [f"q{i:03d}" for i in range(150)]


def test_every_query_is_tested_in_exactly_one_fold():
    folds = query_folds(IDS)
    assert len(folds) == 5
    tested = Counter(q for split in folds for q in split.queries("test"))
    assert set(tested) == set(IDS) and set(tested.values()) == {1}


def test_each_fold_gives_every_query_one_role_and_the_expected_sizes():
    for split in query_folds(IDS):
        roles = {s: set(split.queries(s)) for s in SPLITS}
        assert sum(len(r) for r in roles.values()) == len(set().union(*roles.values())) == 150
        assert len(roles["test"]) == 30
        assert 24 <= len(roles["validation"]) <= 30
        assert len(roles["train"]) == 150 - 30 - len(roles["validation"])


def test_uneven_folds_differ_by_at_most_one():
    sizes = [len(s.queries("test")) for s in query_folds(IDS[:23], n_folds=4)]
    assert sorted(sizes) == [5, 6, 6, 6]


def test_deterministic_and_independent_of_input_order():
    shuffled = IDS[:]
    random.Random(7).shuffle(shuffled)
    first = [s.assignment for s in query_folds(IDS)]
    assert [s.assignment for s in query_folds(shuffled + IDS[:10])] == first
    assert [s.assignment for s in query_folds(IDS, seed=14)] != first


def test_split_round_trips_through_dict():
    split = query_folds(IDS)[2]
    assert QuerySplit.from_dict(split.to_dict()) == split
    assert split.config.seed == 13 and split.config.test_fraction == pytest.approx(0.2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_folds": 1}, "at least 2"),
    ({"n_folds": 151}, "more than the 150"),
    ({"validation_fraction": 0.0}, "validation_fraction"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        query_folds(IDS, **kwargs)


def test_too_few_queries_for_train_and_validation():
    with pytest.raises(ValueError, match="too few"):
        query_folds(IDS[:2], n_folds=2)
