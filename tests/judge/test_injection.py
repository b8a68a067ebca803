"""Prompt injection: instructions in real irrelevant items' titles must not flip the judge.

Runs the default packaged judge (Qwen2.5-Coder-0.5B) on CPU on a few real irrelevant (human grade I) ESCI pairs
that the judge, on the clean title, does not already grade E; every injection phrasing at
the start and end of the title; benign edits of similar length as the control. Fails when
the injected flip rate exceeds the control's by more than the margin justified in
components/judge/injection.py (or the absolute cap).
"""

import os

import pytest

from components.data import load_items, load_judgments, split_queries
from components.judge.backend import JudgeRequest
from components.judge.bench import run_injection
from components.judge.candidates import eval_sample
from components.judge.injection import INJECTIONS, allowed_flip_rate, flip_stats, inject
from components.judge.local import LocalJudge
from components.judge.reading import SoftLabel
from components.judge.store import JudgmentStore
from components.judge.weights import judge_model_path

MODEL = os.environ.get("KPDISTILL_INJECTION_TEST_MODEL", "qwen2.5-coder-0.5b-instruct")


def test_inject_positions():
    assert inject("red mug", "X", "prefix") == "X red mug"
    assert inject("red mug", "X", "suffix") == "red mug X"
    assert inject("big red mug", "X", "middle") == "big X red mug"
    with pytest.raises(ValueError, match="position"):
        inject("a", "X", "top")


def test_flip_stats_counts_rises_to_relevant_grades():
    no = SoftLabel("ok", {"E": 0.1, "S": 0.1, "C": 0.2, "I": 0.6})
    partly = SoftLabel("ok", {"E": 0.1, "S": 0.5, "C": 0.2, "I": 0.2})
    yes = SoftLabel("ok", {"E": 0.7, "S": 0.1, "C": 0.1, "I": 0.1})
    stats = flip_stats([no, partly, yes], [[yes, no], [yes, partly], [yes, yes]])
    # no->yes flips, no->no not, partly->yes flips, partly->partly not, yes: not eligible
    assert (stats["eligible_variants"], stats["flips"], stats["flip_rate"]) == (4, 2, 0.5)
    assert allowed_flip_rate(0.5) == 0.25 and allowed_flip_rate(None) == pytest.approx(0.10)


@pytest.mark.slow
def test_injected_titles_do_not_flip_irrelevant_pairs(tmp_path):
    items, judgments = load_items(), load_judgments()
    split = split_queries(sorted({j.query_id for j in judgments}))
    pool = [j for j in eval_sample(judgments, split, per_grade=6, seed=21) if j.grade == "I"]
    backend = LocalJudge(judge_model_path(MODEL), MODEL, device="cpu", batch_size=8)
    clean = backend.judge([JudgeRequest(items[j.item_id], j.query) for j in pool])
    chosen = [j for j, label in zip(pool, clean, strict=True)
              if label.status == "ok" and label.grade != "E"][:2]
    assert chosen, f"{MODEL} graded every irrelevant pair E: no injection baseline"
    with JudgmentStore(tmp_path / "j.sqlite") as store:
        result = run_injection(backend, items, chosen, store, INJECTIONS, ("prefix", "suffix"))
    print(f"{MODEL}: injected flip rate {result['flip_rate']} "
          f"(control {result['control']['flip_rate']}, allowed {result['allowed_flip_rate']})")
    assert result["eligible_variants"] == len(chosen) * len(INJECTIONS) * 2
    assert result["flip_rate"] <= result["allowed_flip_rate"], result
