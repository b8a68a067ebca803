import random

import pytest

from components.data.splits import SPLITS, SplitConfig, overlap_report, split_queries


def _ids(bundle):
    return [j.query_id for j in bundle.judgments]


def test_split_sizes_and_disjoint(bundle):
    split = bundle.split
    sets = {s: set(split.queries(s)) for s in SPLITS}
    assert {s: len(v) for s, v in sets.items()} == {"train": 90, "validation": 30, "test": 30}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["validation"])
    assert not (sets["validation"] & sets["test"])
    assert set().union(*sets.values()) == set(_ids(bundle))


def test_split_is_deterministic_and_order_free(bundle):
    ids = _ids(bundle)
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    assert split_queries(ids).assignment == split_queries(shuffled).assignment
    assert split_queries(ids, SplitConfig(seed=99)).assignment != split_queries(ids).assignment


def test_overlap_report_counts_shared_items(bundle):
    report = overlap_report(bundle.split, bundle.judgments)
    assert report["queries"] == {"train": 90, "validation": 30, "test": 30}
    assert sum(report["judgments"].values()) == len(bundle.judgments)
    # Some products are judged under queries of two splits; the report says how many.
    assert 0 < report["items_in_two_or_more_splits"] < 200


@pytest.mark.parametrize("fractions", [(0.0, 0.2), (0.5, 0.5), (1.2, 0.1)])
def test_bad_fractions_rejected(fractions):
    with pytest.raises(ValueError):
        SplitConfig(seed=1, validation_fraction=fractions[0], test_fraction=fractions[1])
