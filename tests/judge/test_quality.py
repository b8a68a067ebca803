import pytest

from components.judge.quality import judge_quality, plot_calibration
from components.judge.reading import SoftLabel


def _label(e, s, c, i):
    return SoftLabel("ok", {"E": e, "S": s, "C": c, "I": i})


def test_perfect_judge_scores_auc_1_kappa_1():
    human = ["E", "S", "C", "I"]
    labels = [_label(0.9, 0.05, 0.03, 0.02), _label(0.1, 0.8, 0.05, 0.05),
              _label(0.05, 0.05, 0.8, 0.1), _label(0.0, 0.1, 0.1, 0.8)]
    q = judge_quality(labels, human)
    assert q["auc_relevant"] == 1.0 and q["kappa_grade"] == pytest.approx(1.0)
    assert q["confusion"]["C"] == {"E": 0, "S": 0, "C": 1, "I": 0}
    assert q["n_unreadable"] == 0 and sum(b["n"] for b in q["calibration"]) == 4


def test_unreadable_are_counted_and_left_out():
    labels = [_label(0.9, 0.0, 0.0, 0.1), SoftLabel("unreadable", None, "??"),
              _label(0.1, 0.0, 0.0, 0.9)]
    q = judge_quality(labels, ["E", "I", "I"])
    assert q["n"] == 3 and q["n_unreadable"] == 1 and q["auc_relevant"] == 1.0


def test_inverted_judge_scores_auc_0():
    q = judge_quality([_label(0.0, 0.1, 0.0, 0.9), _label(0.9, 0.1, 0.0, 0.0)], ["E", "I"])
    assert q["auc_relevant"] == 0.0


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="human grades"):
        judge_quality([_label(1, 0, 0, 0)], [])


def test_calibration_plot_is_written(tmp_path):
    q = judge_quality([_label(0.9, 0, 0, 0.1), _label(0.2, 0, 0, 0.8)], ["E", "I"])
    path = plot_calibration({"m": q}, tmp_path / "cal.png")
    assert path.stat().st_size > 1000
