import math

import numpy as np
import pytest

from components.judge.reading import (
    grade_of_text,
    grade_token_ids,
    grade_variants,
    p_relevant,
    soft_label_from_logits,
    soft_label_from_top_logprobs,
    soft_labels_from_logits,
)
from components.judge.rubric import BINARY
from components.judge.rubric import GRADE_WORDS as W

IDS = {"E": [1, 2], "S": [3], "C": [4], "I": [5]}


def test_soft_label_is_softmax_over_pooled_grade_tokens():
    logits = np.full(10, -50.0)
    logits[[1, 2, 3, 4, 5]] = [1.0, 1.0, math.log(2.0), 0.0, 0.0]  # E pooled: 2e; S 2; C 1; I 1
    label = soft_label_from_logits(logits, IDS)
    assert label.status == "ok"
    z = 2 * math.e + 2 + 1 + 1
    assert label.probs["E"] == pytest.approx(2 * math.e / z)
    assert label.probs["S"] == pytest.approx(2 / z)
    assert sum(label.probs.values()) == pytest.approx(1.0)
    assert label.grade == "E"
    assert label.p_relevant == pytest.approx((2 * math.e + 2) / z)
    assert label.grade_mass == pytest.approx(1.0, abs=1e-9)


def test_low_grade_mass_is_unreadable():
    logits = np.zeros(1000)
    logits[7] = 20.0  # the model wants to say something else
    label = soft_label_from_logits(logits, IDS, min_grade_mass=0.05, raw="Sure")
    assert label.status == "unreadable" and label.probs is None and label.raw == "Sure"
    assert label.grade is None and label.p_relevant is None


def test_non_finite_logits_are_unreadable():
    logits = np.zeros(10)
    logits[3] = np.nan
    assert soft_label_from_logits(logits, IDS).status == "unreadable"


def test_wrong_logit_shape_raises():
    with pytest.raises(ValueError, match="shape"):
        soft_label_from_logits(np.zeros((2, 10)), IDS)


def test_p_relevant_is_exact_plus_substitute():
    assert p_relevant({"E": 0.5, "S": 0.2, "C": 0.2, "I": 0.1}) == pytest.approx(0.7)


def test_grade_token_ids_uses_first_tokens_and_rejects_collisions():
    vocab, next_id = {}, 10
    for grade in "ESCI":
        for variant in grade_variants(W[grade]):
            vocab[variant] = [next_id, 999]
            next_id += 1
    ids = grade_token_ids(lambda t: vocab[t])
    assert all(len(ids[g]) == len(grade_variants(W[g])) for g in "ESCI")
    assert not set(ids["E"]) & set(ids["I"])
    clash = {t: ([7] if t.strip().lower() in (W["E"].lower(), W["S"].lower()) else v)
             for t, v in vocab.items()}
    with pytest.raises(ValueError, match="no distinct first token"):
        grade_token_ids(lambda t: clash[t])


@pytest.mark.parametrize("text,grade", [(W["E"], "E"), (f" {W['S'].lower()}.", "S"),
                                        (W["C"][:3], "C"), (W["I"].upper(), "I"),
                                        ("Sure, here", None), ("", None),
                                        (f"**{W['E']}**", "E")])
def test_grade_of_text(text, grade):
    assert grade_of_text(text) == grade


def test_top_logprobs_pool_spellings_and_renormalise():
    top = [(W["E"][:2], math.log(0.5)), (" " + W["E"], math.log(0.1)),
           (W["S"][:3], math.log(0.2)), ("The", math.log(0.15))]
    label = soft_label_from_top_logprobs(top, W["E"])
    assert label.status == "ok"
    assert label.probs["E"] == pytest.approx(0.6 / 0.8)
    assert label.probs["S"] == pytest.approx(0.2 / 0.8)
    assert label.probs["C"] == 0.0


def test_text_without_logprobs_gives_one_hot_and_garbage_is_unreadable():
    assert soft_label_from_top_logprobs([], W["C"]).probs == {
        "E": 0.0, "S": 0.0, "C": 1.0, "I": 0.0}
    bad = soft_label_from_top_logprobs([("Sure", -0.1)], "Sure, let me think")
    assert bad.status == "unreadable" and bad.raw == "Sure, let me think"


def test_binary_label_is_two_way_over_yes_and_no():
    """Binary rubric: P(relevant) = P(Yes) / (P(Yes) + P(No)), stored as E vs I; S, C = 0."""
    ids = {"E": [1, 2], "I": [5]}
    logits = np.full(10, -50.0)
    logits[[1, 2, 5, 7]] = [0.0, 0.0, math.log(6.0), 3.0]  # Yes 2, No 6; token 7 ignored
    label = soft_label_from_logits(logits, ids, min_grade_mass=0.0)
    assert label.status == "ok"
    assert label.probs == pytest.approx({"E": 0.25, "S": 0.0, "C": 0.0, "I": 0.75})
    assert label.p_relevant == pytest.approx(0.25) and label.grade == "I"


def test_binary_words_map_answers_and_logprobs():
    assert grade_of_text(" yes.", BINARY.words) == "E"
    assert grade_of_text("No", BINARY.words) == "I"
    assert grade_of_text("Partly", BINARY.words) is None
    top = [("Yes", math.log(0.6)), (" yes", math.log(0.2)), ("No", math.log(0.1)),
           ("Partly", math.log(0.05))]
    label = soft_label_from_top_logprobs(top, "Yes", words=BINARY.words)
    assert label.p_relevant == pytest.approx(0.8 / 0.9) and label.grade == "E"
    vocab = {"Yes": [1], " Yes": [2], "yes": [3], " yes": [4], "YES": [5],
             "No": [6], " No": [7], "no": [8], " no": [9], "NO": [10]}
    assert grade_token_ids(lambda t: vocab[t], BINARY.words) == {
        "E": [vocab[v][0] for v in grade_variants("Yes")],
        "I": [vocab[v][0] for v in grade_variants("No")]}


def test_batched_reading_equals_the_row_by_row_reading():
    """On-device reductions give each row the label soft_label_from_logits gives it:
    ordinary rows, a row with little mass on grade tokens, a non-finite row."""
    import torch

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(6, 40)) * 3
    rows[:, 1:6] += 6.0                        # most mass on the grade tokens
    rows[1, [1, 2, 3, 4, 5]] = -30.0          # grade mass below 0.05: unreadable
    rows[2, 7] = np.nan                        # non-finite: unreadable
    batch = soft_labels_from_logits(torch.tensor(rows, dtype=torch.float32), IDS,
                                    min_grade_mass=0.05, decode=lambda i: f"tok{i}")
    for row, got in zip(rows, batch, strict=True):
        raw = f"tok{int(np.nanargmax(row)) if np.isfinite(row).all() else got.raw[3:]}"
        want = soft_label_from_logits(row, IDS, min_grade_mass=0.05, raw=raw)
        assert got.status == want.status and got.raw == want.raw
        if want.probs:
            assert got.probs == pytest.approx(want.probs, abs=1e-5)
            assert got.grade_mass == pytest.approx(want.grade_mass, rel=1e-4)
    assert [b.status for b in batch][:3] == ["ok", "unreadable", "unreadable"]
    with pytest.raises(ValueError, match="batch, vocab"):
        soft_labels_from_logits(torch.zeros(10), IDS)
