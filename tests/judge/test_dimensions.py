"""Per-dimension judgments: reading an answer from logits, the contract's validation, the
store and JSONL round trip, the config (hand-made values; no model)."""

import math

import numpy as np
import pytest
import torch

from components.judge.config import JudgeConfig, load_config
from components.judge.dimensions import (
    ANSWERS,
    DIMENSIONS,
    DIMS_V1,
    DimensionAnswer,
    DimensionJudgment,
    DimensionsError,
    answer_from_logits,
    answer_token_ids,
    answers_from_logits,
    dimension_prompts_by_version,
    hard_answer,
    validate_dimensions,
)
from components.judge.labels import (
    LabelError,
    TeacherLabel,
    load_teacher_labels,
    save_teacher_labels,
)
from components.judge.reading import SoftLabel
from components.judge.store import JudgmentStore, StoredDimensions, StoredJudgment

IDS = {"yes": [1, 2], "no": [3], "na": [4]}


def _logits() -> np.ndarray:
    x = np.full(8, -2.0)
    x[1], x[2], x[3], x[4] = 1.0, 0.0, 0.5, -1.0
    return x


def test_answer_pools_each_words_spellings_and_renormalises():
    x = _logits()
    z = np.exp(x).sum()
    yes, no, na = (math.e ** 1 + 1.0) / z, math.e ** 0.5 / z, math.e ** -1 / z
    answer = answer_from_logits(x, IDS, raw="Yes")
    assert answer.status == "ok" and answer.raw == "Yes"
    assert answer.mass == pytest.approx(yes + no + na)
    total = yes + no + na
    assert answer.probs == pytest.approx({"yes": yes / total, "no": no / total,
                                          "na": na / total})
    assert sum(answer.probs.values()) == pytest.approx(1.0)
    assert hard_answer(answer.probs) == "yes"


def test_batched_reading_equals_row_by_row():
    rows = np.stack([_logits(), _logits()[::-1].copy(), np.linspace(-3, 3, 8)])
    batched = answers_from_logits(torch.tensor(rows), IDS, min_mass=0.0,
                                  decode=lambda t: f"t{t}")
    for row, got in zip(rows, batched, strict=True):
        want = answer_from_logits(row, IDS, min_mass=0.0)
        assert got.probs == pytest.approx(want.probs, abs=1e-6)
        assert got.raw == f"t{int(np.argmax(row))}"


def test_an_answer_whose_words_hold_too_little_mass_is_unreadable():
    x = np.full(100, 5.0)
    x[[1, 2, 3, 4]] = -5.0  # the model wants to say something else
    answer = answer_from_logits(x, IDS, min_mass=0.05, raw="Sure")
    assert answer.status == "unreadable" and answer.probs is None and answer.raw == "Sure"
    assert answer.mass < 0.05
    assert answer_from_logits(x, IDS, min_mass=0.0).status == "ok"
    x[7] = np.nan
    assert answer_from_logits(x, IDS).status == "unreadable"
    [batched] = answers_from_logits(torch.tensor(x).unsqueeze(0), IDS)
    assert batched.probs is None


def test_answer_token_ids_drop_shared_first_tokens_and_refuse_indistinct_answers():
    vocab = {"Yes": 1, "yes": 1, "No": 3, "no": 3, "Not": 4, "not": 4, "NOT": 4, "YES": 1,
             "NO": 3}

    def encode(text):
        word = text.strip().split()[0]
        return [vocab.get(word, 10 + len(word)) + (20 if text.startswith(" ") else 0)]

    ids = answer_token_ids(encode, DIMS_V1.words)
    assert 1 in ids["yes"] and 3 in ids["no"] and 4 in ids["na"]
    assert not set(ids["yes"]) & set(ids["no"])
    with pytest.raises(ValueError, match="no first token of its own"):
        answer_token_ids(lambda text: [7], {"yes": "Yes", "no": "No", "na": "Nope"})


def _dims(**overrides):
    dims = {d: {"yes": 0.6, "no": 0.3, "na": 0.1} for d in DIMENSIONS}
    dims.update(overrides)
    return dims


@pytest.mark.parametrize("bad,message", [
    (_dims(price={"yes": 1.0, "no": 0.0, "na": 0.0}), "unknown dimensions"),
    (_dims(size={"yes": 0.6, "no": 0.6, "na": 0.1}), "must be 1"),
    (_dims(size={"yes": 1.2, "no": -0.2, "na": 0.0}), r"\[0, 1\]"),
    (_dims(size={"yes": float("nan"), "no": 0.5, "na": 0.5}), r"\[0, 1\]"),
    (_dims(size={"yes": 0.5, "no": 0.5}), "dict over"),
    (_dims(size=0.5), "dict over"),
    (dict.fromkeys(DIMENSIONS), "write dimensions as None"),
    ({}, "write dimensions as None"),
    ([0.5, 0.5], "dict or None"),
])
def test_malformed_dimensions_are_refused_with_a_clear_error(bad, message):
    with pytest.raises(DimensionsError, match=message):
        validate_dimensions(bad)
    with pytest.raises(LabelError, match=message):
        _label(dimensions=bad)


def test_a_label_may_carry_only_some_dimensions():
    validate_dimensions({"type": {"yes": 0.9, "no": 1.0 - 0.9 - 0.1, "na": 0.1}})
    assert _label({"brand": {"yes": 0.1, "no": 0.1, "na": 0.8}}).dimensions["brand"]["na"] == 0.8


def test_an_unreadable_dimension_is_none_and_all_unreadable_is_none():
    ok = DimensionAnswer({"yes": 0.2, "no": 0.7, "na": 0.1}, "No", 0.9)
    bad = DimensionAnswer(None, "Sure", 0.01)
    partial = DimensionJudgment({d: (bad if d == "colour" else ok) for d in DIMENSIONS})
    assert partial.dimensions["colour"] is None and partial.unreadable == 1
    assert partial.dimensions["type"] == ok.probs
    validate_dimensions(partial.dimensions)
    assert DimensionJudgment(dict.fromkeys(DIMENSIONS, bad)).dimensions is None


def _label(dimensions=None, item="a", kp="x", source="eval"):
    return TeacherLabel(item, kp, None, source, "m", "rubric-v6", "ok",
                        {"E": 0.7, "S": 0.0, "C": 0.0, "I": 0.3}, 0.7, "E", dimensions)


def test_dimensions_round_trip_through_the_store_and_the_labels_jsonl(tmp_path):
    label = SoftLabel("ok", {"E": 0.7, "S": 0.0, "C": 0.0, "I": 0.3}, "Yes", 0.9)
    dims = _dims(colour=None)
    with JudgmentStore(tmp_path / "j.sqlite") as store:
        store.put_many([StoredJudgment("m", "rubric-v6", i, "x", None, "eval", label)
                        for i in ("a", "b", "c")])
        answers = {d: DimensionAnswer(dims[d], "Yes" if dims[d] else "Sure",
                                      0.9 if dims[d] else 0.01) for d in DIMENSIONS}
        unreadable = dict.fromkeys(DIMENSIONS, DimensionAnswer(None, "Sure", 0.0))
        assert store.put_dimensions([
            StoredDimensions.of("m", "dims-v1", "a", "x", DimensionJudgment(answers)),
            StoredDimensions.of("m", "dims-v1", "b", "x", DimensionJudgment(unreadable))]) == 2
        assert store.done_dimension_pairs("m", "dims-v1") == {("a", "x"), ("b", "x")}
        assert store.done_dimension_pairs("m", "dims-v2") == set()
        [a, b] = store.dimension_judgments("m", "dims-v1")
        assert a.dimensions == dims and a.raw["colour"] == "Sure" and a.unreadable == 1
        assert b.dimensions is None and b.unreadable == len(DIMENSIONS)
        stored = {j.item_id: j for j in store.judgments("m", "rubric-v6", "dims-v1")}
        assert stored["a"].dimensions == dims
        assert stored["b"].dimensions is None and stored["c"].dimensions is None
        assert all(j.dimensions is None for j in store.judgments("m", "rubric-v6"))
        labels = [stored[i].teacher_label() for i in "abc"]
    save_teacher_labels(tmp_path / "t.jsonl", labels)
    assert load_teacher_labels(tmp_path / "t.jsonl") == labels
    assert load_teacher_labels(tmp_path / "t.jsonl")[0].dimensions == dims


def test_the_store_refuses_malformed_dimensions_and_grades_carrying_dimensions(tmp_path):
    with JudgmentStore(tmp_path / "j.sqlite") as store:
        bad = StoredDimensions("m", "dims-v1", "a", "x", _dims(size={"yes": 2.0}), {}, {})
        with pytest.raises(DimensionsError):
            store.put_dimensions([bad])
        assert store.done_dimension_pairs("m", "dims-v1") == set()
        label = SoftLabel("ok", {"E": 1.0, "S": 0.0, "C": 0.0, "I": 0.0}, "Yes", 0.9)
        with pytest.raises(ValueError, match="put_dimensions"):
            store.put_many([StoredJudgment("m", "v", "a", "x", None, "eval", label, _dims())])


def test_malformed_dimensions_in_a_labels_file_name_the_line(tmp_path):
    path = tmp_path / "t.jsonl"
    save_teacher_labels(path, [_label(_dims())])
    path.write_text(path.read_text().replace('"na": 0.1', '"na": 0.5', 1))
    with pytest.raises(LabelError, match=r"t.jsonl:1: .*must be 1"):
        load_teacher_labels(path)


def test_prompts_are_versioned_and_one_question_per_dimension():
    assert dimension_prompts_by_version("dims-v1") is DIMS_V1
    with pytest.raises(ValueError, match="unknown dimension prompt version"):
        dimension_prompts_by_version("dims-v0")
    assert tuple(DIMS_V1.questions) == DIMENSIONS and ANSWERS == ("yes", "no", "na")
    assert len(set(DIMS_V1.questions.values())) == len(DIMENSIONS)
    for question in DIMS_V1.questions.values():
        assert "Yes, No, Not mentioned" in question


def test_config_turns_dimension_judging_on_with_a_version_and_off_by_default():
    assert load_config().dimensions is False and load_config().dimension_prompts() is None
    on = load_config(dimensions=True)
    assert on.dimension_prompts() is DIMS_V1 and on.dimension_version == "dims-v1"
    with pytest.raises(ValueError, match="unknown dimension prompt version"):
        JudgeConfig(dimensions=True, dimension_version="dims-v0")
    with pytest.raises(ValueError, match="local judge"):
        JudgeConfig(dimensions=True, backend="openai")
