"""dimension_quality on hand-made rows: the per-dimension figures, the type-and-brand match
share, the logistic combination fitted on train pairs and scored on eval pairs."""

import pytest

from components.judge.dimensions import DIMENSIONS
from components.judge.dimensions_bench import EVAL, FIT, dimension_quality, markdown

YES = {"yes": 0.8, "no": 0.1, "na": 0.1}
NO = {"yes": 0.1, "no": 0.8, "na": 0.1}
NA = {"yes": 0.1, "no": 0.1, "na": 0.8}


def _row(role, grade, type_, brand, p_relevant=0.5, query="q"):
    dims = dict.fromkeys(DIMENSIONS, NA)
    dims.update(type=type_, brand=brand)
    return {"role": role, "grade": grade, "p_relevant": p_relevant, "dimensions": dims,
            "query": query, "title": "t", "brand": "b", "item_id": "i"}


def _rows():
    rows = []
    for role in (FIT, EVAL):
        rows += [_row(role, "E", YES, NA, 0.4), _row(role, "E", YES, YES, 0.6),
                 _row(role, "S", YES, NO, 0.7), _row(role, "C", NO, NA, 0.3),
                 _row(role, "I", NO, NO, 0.5), _row(role, "I", NO, NA, 0.45)]
    return rows


def test_per_dimension_figures_and_type_and_brand_match():
    q = dimension_quality(_rows())
    assert (q["n"], q["n_fit"], q["n_eval"], q["n_with_dimensions"]) == (12, 6, 6, 12)
    t = q["per_dimension"]["type"]
    assert t["mean_yes_by_grade"]["E"] == pytest.approx(0.8)
    assert t["mean_no_by_grade"]["I"] == pytest.approx(0.8)
    assert t["answer_share"] == pytest.approx({"yes": 0.5, "no": 0.5, "na": 0.0})
    assert t["auc_not_no"] == pytest.approx(1.0)  # type "no" exactly on C and I
    assert q["per_dimension"]["size"]["auc_not_no"] == pytest.approx(0.5)  # no signal
    both = q["type_and_brand_match_by_grade"]
    assert both["E"] == {"n": 4, "share": 1.0}
    assert both["S"]["share"] == 0.0 and both["I"]["share"] == 0.0


def test_the_combination_is_fitted_on_train_pairs_and_scored_on_eval_pairs():
    c = dimension_quality(_rows())["combination"]
    assert (c["n_fit"], c["n_eval"]) == (6, 6)
    assert c["auc_dimensions_logistic"] == pytest.approx(1.0)
    # the single question ranks one relevant pair (0.4) below two irrelevant (0.45, 0.5)
    assert c["auc_single_question"] == pytest.approx(7 / 9)


def test_unreadable_dimensions_are_counted_and_left_out():
    rows = _rows()
    rows[0]["dimensions"] = None
    rows[1]["dimensions"]["colour"] = None
    q = dimension_quality(rows)
    assert q["n_with_dimensions"] == 11
    assert q["per_dimension"]["colour"]["unreadable"] == 2
    assert q["per_dimension"]["type"]["unreadable"] == 1
    assert q["combination"]["n_fit"] == 5
    text = markdown({"quality": q, "judge_model": "m", "dimension_version": "dims-v1",
                     "command": "python -m components.judge.dimensions_bench", "hardware": "cpu",
                     "seconds": 1.0, "judged_now": {"grades": 12, "dimensions": 12}})
    assert "| type |" in text and "surest" in text


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no pairs"):
        dimension_quality([])
    with pytest.raises(ValueError, match="human grades"):
        dimension_quality([_row(FIT, "X", YES, YES)])


def test_judge_md_shows_the_dimensions_row_with_what_it_is(tmp_path):
    from components.judge.report import write_markdown

    q = dimension_quality(_rows())
    entry = {"what": "CPU wiring check (12 pairs): not a measurement", "hardware": "cpu x2",
             "command": "python -m components.judge.dimensions_bench --per-grade 1",
             "combination": q["combination"],
             "type_and_brand_match_by_grade": q["type_and_brand_match_by_grade"]}
    text = write_markdown(tmp_path / "judge.md", {"prompt_version": "rubric-v6", "models": {},
                                                  "dimensions": {"m@dims-v1": entry}})
    row = next(line for line in text.splitlines() if line.startswith("| m@dims-v1"))
    assert "CPU wiring check" in row and "0.778" in row and "1.00 / 0.00" in row
    assert "--per-grade 1" in row
