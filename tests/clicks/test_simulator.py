"""The simulator reproduces each configured bias (docs/METHOD.md), deterministically."""

from collections import defaultdict

import numpy as np
import pytest

from components.clicks.simulator import ClickConfig, ClickLog, simulate_clicks
from components.data.esci import Item, Judgment

NO_FILTER = {"E": 0.0, "S": 0.0, "C": 0.0, "I": 0.0}
FLAT = {"E": 0.0, "S": 0.0, "C": 0.0, "I": 0.0}


def _ctr(records):
    imps = sum(r.impressions for r in records)
    return sum(r.clicks for r in records) / imps


@pytest.fixture(scope="module")
def real_log(bundle):
    return simulate_clicks(bundle.items, bundle.judgments, ClickConfig.from_yaml())


def test_default_config_loads():
    cfg = ClickConfig.from_yaml()
    assert cfg.results_per_query == 20 and set(cfg.grade_logit) == {"E", "S", "C", "I"}


def test_relevant_beats_irrelevant_ctr(bundle, real_log):
    grade = {(j.query_id, j.item_id): j.grade for j in bundle.judgments}
    by_grade = defaultdict(list)
    for r in real_log.records:
        by_grade[grade[(r.query_id, r.item_id)]].append(r)
    assert _ctr(by_grade["E"]) > _ctr(by_grade["S"]) > _ctr(by_grade["I"])


def test_top_positions_beat_bottom_with_relevance_flat(bundle):
    cfg = ClickConfig(grade_logit=FLAT, popularity_weight=0.0, filter_drop=NO_FILTER)
    log = simulate_clicks(bundle.items, bundle.judgments, cfg)
    top = [r for r in log.records if r.position <= 3]
    bottom = [r for r in log.records if r.position >= 15]
    assert _ctr(top) > 3 * _ctr(bottom)


def test_popular_beats_unpopular_at_equal_relevance():
    items = {f"i{n}": Item(f"i{n}", f"lamp model {n}", rating_count=(10**5 if n % 2 else 1))
             for n in range(40)}
    judgments = [Judgment(f"q{q}", "lamp", f"i{n}", "E") for q in range(30) for n in range(40)]
    cfg = ClickConfig(position_eta=0.0, filter_drop=NO_FILTER, results_per_query=40,
                      popularity_weight=1.0, noise_sigma=0.3)
    log = simulate_clicks(items, judgments, cfg)
    popular = [r for r in log.records if items[r.item_id].rating_count > 1]
    unpopular = [r for r in log.records if items[r.item_id].rating_count == 1]
    assert _ctr(popular) > 1.5 * _ctr(unpopular)


def test_filtered_pairs_are_never_shown(bundle, real_log):
    shown = {(r.query_id, r.item_id) for r in real_log.records}
    assert real_log.filtered and not (shown & set(real_log.filtered))
    assert all(r.impressions > 0 for r in real_log.records)
    grade = {(j.query_id, j.item_id): j.grade for j in bundle.judgments}
    dropped = defaultdict(int)
    total = defaultdict(int)
    for key, g in grade.items():
        total[g] += 1
        dropped[g] += key in set(real_log.filtered)
    # drop rates follow the configured filter: I (0.75) >> E (0.02)
    assert dropped["I"] / total["I"] == pytest.approx(0.75, abs=0.05)
    assert dropped["E"] / total["E"] == pytest.approx(0.02, abs=0.02)


def test_filter_everything_shows_nothing(bundle):
    cfg = ClickConfig(filter_drop={"E": 1.0, "S": 1.0, "C": 1.0, "I": 1.0})
    log = simulate_clicks(bundle.items, bundle.judgments[:200], cfg)
    assert log.records == [] and len(log.filtered) == 200


def test_deterministic_and_order_free(bundle):
    js = bundle.judgments[:600]
    a = simulate_clicks(bundle.items, js)
    b = simulate_clicks(bundle.items, list(reversed(js)))
    assert a.records == b.records and a.filtered == b.filtered
    c = simulate_clicks(bundle.items, js, ClickConfig(seed=8))
    assert [r.clicks for r in c.records] != [r.clicks for r in a.records]


def test_at_most_results_per_query_shown(real_log):
    per_query = defaultdict(list)
    for r in real_log.records:
        per_query[r.query_id].append(r.position)
    for positions in per_query.values():
        assert sorted(positions) == list(range(1, len(positions) + 1))
        assert len(positions) <= 20


def test_save_load_round_trip(real_log, tmp_path):
    real_log.save(tmp_path)
    loaded = ClickLog.load(tmp_path)
    assert loaded.records == real_log.records and loaded.filtered == real_log.filtered
    assert np.isclose(loaded.summary()["ctr"], real_log.summary()["ctr"])


@pytest.mark.parametrize("bad", [{"grade_logit": {"E": 1.0}}, {"filter_drop": {**NO_FILTER, "I": 2}},
                                 {"results_per_query": 0}])
def test_bad_config_rejected(bad):
    with pytest.raises(ValueError):
        ClickConfig(**bad)
