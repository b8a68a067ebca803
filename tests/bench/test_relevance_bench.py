"""bench.relevance: the judge's calibration sample and the results table."""

from bench.relevance import calibration_sample, markdown
from components.data.esci import Judgment


def _judgments():
    grades = "E" * 60 + "S" * 20 + "C" * 5 + "I" * 15
    return [Judgment(f"q{i}", f"query {i}", f"item{i}", g) for i, g in enumerate(grades)]


def test_calibration_sample_is_half_relevant_and_repeatable():
    sample = calibration_sample(_judgments(), 20)
    assert len(sample) == 20
    assert sum(j.grade in "ES" for j in sample) == 10
    assert sample == calibration_sample(_judgments(), 20)
    assert len(calibration_sample(_judgments(), 0)) == 100


def _rate(threshold):
    return {"rate": 0.5, "rate_interval": (0.3, 0.7), "pairs": 16, "mean_p": 0.4,
            "threshold": threshold, "estimated_relevant_share": 0.6,
            "human_graded_pairs": 4, "human_relevant_share": 0.75,
            "calibration": {"threshold": threshold, "chosen_on": "train pairs", "auc": 0.6,
                            "tpr": 0.6, "fpr": 0.4, "youden_j": 0.2}}


def test_markdown_reports_each_raters_threshold():
    result = {"k": 8, "items": 2, "judge_items": 2, "student": "x/student",
              "assistant": "x/model", "judge_pairs": 40, "judge_seconds": 30.0,
              "machine": "x86_64 CPU, 2 cores", "examples": {},
              "universes": {"before": {"keyphrases": 10,
                                       "by_source": {"esci": 4, "wands": 6, "mined": 0},
                                       "assistant": _rate(0.36),
                                       "judge": {**_rate(0.47), "model": "judge-1"}}}}
    text = markdown(result, "python -m bench.relevance")
    assert "**50%** [30%, 70%] of 16; corrected 60%" in text
    assert "| judge `judge-1` | 0.470 | train pairs | 0.600 | 60% | 40% | 0.20 |" in text
    assert "| assistant (`x/model`) | 0.360 |" in text
    assert "2 cores" in text
