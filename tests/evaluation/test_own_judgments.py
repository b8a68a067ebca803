"""Evaluating on your own judgments (docs/JUDGMENTS.md): the example file, the checks that
name what to fix, custom gains in the metrics, and the command line."""

from __future__ import annotations

import json
import math

import pytest

from components.evaluation.__main__ import evaluate_on, is_cross_encoder, main
from components.evaluation.judgments import JudgmentsError, load_judgment_set
from components.metrics.ranking import ndcg_at_k
from components.settings import REPO_ROOT

EXAMPLE = REPO_ROOT / "docs" / "examples" / "judgments.json"


class _Exact:
    """Scores 1 when the item text holds the whole query, else 0."""

    def score_pairs(self, keyphrases, item_texts):
        return [float(k in t.lower()) for k, t in zip(keyphrases, item_texts, strict=True)]


def _write(tmp_path, data) -> str:
    path = tmp_path / "j.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_example_file_loads():
    judged = load_judgment_set(EXAMPLE)
    assert judged.summary()["queries"] == 3 and len(judged.items) == 8
    assert judged.relevant == {"perfect", "good"} and judged.irrelevant == {"bad"}
    assert [kp.keyphrase_id for kp in judged.universe] == ["judged:q1", "judged:q2", "judged:q3"]


def test_metrics_use_the_files_gains():
    judged = load_judgment_set(EXAMPLE)
    out = evaluate_on(_Exact(), judged)
    # q1: g1 "pruning shears" found (perfect) -> ranks first; its other products tie at 0.
    q1 = [j for j in judged.judgments if j.query_id == "q1"]
    expected = ndcg_at_k([1.0 if j.item_id == "g1" else 0.0 for j in q1],
                         [j.grade for j in q1], 10, judged.gains)
    assert out["per_query_ndcg@10"]["q1"] == pytest.approx(expected)
    assert 0 < out["ndcg@10"] <= 1 and out["queries"] == 3
    # q1's and q2's perfect items hold the query text (rank 1); q3's does not ("gardening").
    assert out["mrr"] > 0.6
    assert not math.isnan(out["irrelevant_rate@10"])


def test_esci_grades_need_no_gains(tmp_path):
    data = {"items": [{"item_id": "a", "title": "red shoes"}, {"item_id": "b", "title": "cup"}],
            "queries": [{"query_id": "q", "text": "red shoes"}],
            "judgments": [{"query_id": "q", "item_id": "a", "grade": "E"},
                          {"query_id": "q", "item_id": "b", "grade": "I"}]}
    judged = load_judgment_set(_write(tmp_path, data))
    assert judged.gains["S"] == 0.1 and evaluate_on(_Exact(), judged)["ndcg@10"] == 1.0


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("relevant"), "give 'relevant'"),
    (lambda d: d["judgments"].append({"query_id": "q1", "item_id": "g1", "grade": "perfect"}),
     "judged twice"),
    (lambda d: d["judgments"].append({"query_id": "q9", "item_id": "g1", "grade": "bad"}),
     "'q9' is not in 'queries'"),
    (lambda d: d["judgments"].append({"query_id": "q1", "item_id": "g3", "grade": "meh"}),
     "grade 'meh' is not one of"),
    (lambda d: d["items"].append({"item_id": "z", "title": "x", "colour": "red"}),
     "unknown fields \\['colour'\\]"),
    (lambda d: d["items"].append({"item_id": "z"}), "non-empty 'title'"),
    (lambda d: d.update(gains={"a": "x"}), "must be numbers"),
])
def test_bad_files_say_what_to_fix(tmp_path, change, message):
    data = json.loads(EXAMPLE.read_text())
    change(data)
    with pytest.raises(JudgmentsError, match=message):
        load_judgment_set(_write(tmp_path, data))


def test_model_kind_detection(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"architectures": ["BertForSequenceClassification"]}))
    assert is_cross_encoder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    assert not is_cross_encoder(tmp_path)


def test_command_line_on_the_example(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["bm25", "--judgments", str(EXAMPLE), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| bm25 |" in printed and "garden and kitchen sample" in printed
    results = json.loads(out.read_text())
    assert results["judgments"]["judgments"] == 14
    assert 0 < results["models"]["bm25"]["ndcg@10"] <= 1
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["random", "--judgments", str(bad)]) == 2
    assert "docs/JUDGMENTS.md" in capsys.readouterr().err


@pytest.mark.slow
def test_command_line_with_a_student_and_its_matryoshka_dims(tmp_path, capsys):
    from components.models.pretrained import minilm_path

    assert main([str(minilm_path()), "--judgments", str(EXAMPLE), "--dims", "128"]) == 0
    printed = capsys.readouterr().out
    assert "_128 |" in printed
