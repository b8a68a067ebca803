"""The run report: sections from each step's outputs, HTML + Markdown + JSON, and the page as
headless Chromium renders it (tables and figures; a screenshot under artifacts/test-output/)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from components.data.esci import Item, Judgment
from components.data.keyphrases import Keyphrase
from components.evaluation import report_sections as sections
from components.evaluation.relevance import (
    human_grades,
    rated_recommendations,
    recommend,
    relevance_rate,
    sample_items,
)
from components.evaluation.run_report import (
    RunReport,
    Section,
    Table,
    load_report,
    render_html,
    render_markdown,
    save_report,
)
from components.settings import artifacts_dir


@dataclass
class _Label:
    item_id: str
    keyphrase: str
    query_id: str
    p_relevant: float
    judge_model: str = "tiny-judge"


class _BagOfWords:
    """A toy encoder: one dimension per vocabulary word."""

    def __init__(self, vocabulary):
        self.vocabulary = sorted(vocabulary)

    def encode(self, texts):
        out = np.array([[w in t.lower().split() for w in self.vocabulary] for t in texts],
                       dtype=float) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class _WordOverlapScorer:
    def score_pairs(self, keyphrases, item_texts):
        return [0.9 if set(k.split()) & set(t.lower().split()) else 0.1
                for k, t in zip(keyphrases, item_texts, strict=True)]


ITEMS = {"a": Item("a", "Red Running Shoes", category="Shoes"),
         "b": Item("b", "Stainless Steel Water Bottle", category="Kitchen"),
         "c": Item("c", "Midnight Sun Novel", category="Books")}
JUDGMENTS = [Judgment("q1", "running shoes", "a", "E"), Judgment("q2", "water bottle", "b", "E"),
             Judgment("q2", "water bottle", "a", "I"), Judgment("q3", "novel", "c", "S")]
UNIVERSE = [Keyphrase("esci:q1", "running shoes", "running shoes", "esci"),
            Keyphrase("esci:q2", "water bottle", "water bottle", "esci"),
            Keyphrase("mined:0", "steel bottle", "steel bottle", "mined"),
            Keyphrase("wands:1", "sofa", "sofa", "wands"),
            Keyphrase("mined:1", "novel", "novel", "mined")]


def _recommendations(k=2):
    encoder = _BagOfWords({w for kp in UNIVERSE for w in kp.text.split()})
    recs = recommend(encoder, ITEMS, sorted(ITEMS), UNIVERSE, k=k)
    return rated_recommendations(recs, _WordOverlapScorer(), ITEMS, human_grades(JUDGMENTS))


def test_recommendations_rated_and_counted():
    recs = _recommendations()
    assert [r.keyphrase for r in recs if r.item_id == "a"][0] == "running shoes"
    assert next(r for r in recs if r.item_id == "a" and r.rank == 1).human_grade == "E"
    rate = relevance_rate(recs)
    assert rate["items"] == 3 and rate["pairs"] == 6
    assert 0 < rate["rate"] <= 1 and set(rate["by_source"]) <= {"esci", "mined", "wands"}
    assert rate["human_graded_pairs"] >= 2
    assert sample_items(ITEMS, JUDGMENTS, ["q2"], 5) == ["a", "b"]
    assert sample_items(ITEMS, JUDGMENTS, ["q1", "q2", "q3"], 2) == ["a", "b"]


def _full_report() -> RunReport:
    metrics = {"ndcg@10": 0.68, "recall@10": 0.25, "precision@10": 0.9, "mrr": 0.93,
               "irrelevant_rate@10": 0.1}
    baselines = {"random": {"test": {**metrics, "ndcg@10": 0.52}},
                 "minilm_zero_shot": {"test": {**metrics, "ndcg@10": 0.69}}}
    evaluations = {"distilled": {"distilled": metrics, "distilled_256": metrics,
                                 "distilled_128": {**metrics, "ndcg@10": 0.66},
                                 "distilled_64": {**metrics, "ndcg@10": 0.64},
                                 "cross_encoder": {**metrics, "ndcg@10": 0.6}},
                   "click_only": {"click_only": {**metrics, "ndcg@10": 0.66}}}
    rng = np.random.default_rng(0)
    labels = [_Label(j.item_id, j.query, j.query_id, float(p))
              for j, p in zip(JUDGMENTS * 5, rng.uniform(size=20), strict=True)]
    logs = {"student (distilled)": {"losses": {"clicks": [[s, 2 - s / 30] for s in range(1, 31, 2)],
                                               "sr": [[s, 1 - s / 60] for s in range(2, 31, 2)]},
                                    "validation": [[15, 0.70], [30, 0.71]]},
            "cross-encoder": {"losses": {"loss": [[s, 0.8 - s / 150] for s in range(1, 31)]},
                              "validation": []}}
    recs = _recommendations()
    served = {"k": 2, "rerank": False, "answers": [
        {"item_id": "a", "title": "Red Running Shoes", "category": "Shoes", "total_ms": 12.0,
         "keyphrases": [{"rank": 1, "text": "running shoes", "source": "esci",
                         "bi_encoder_score": 0.8, "human_grade": "E"}]}]}
    built = [sections.baselines_section(baselines),
             sections.judge_section(labels, JUDGMENTS),
             sections.assistant_section(evaluations["distilled"]["cross_encoder"],
                                        {"auc": 0.7, "kappa": 0.3, "threshold": 0.4}),
             sections.students_section(evaluations),
             sections.training_section(logs),
             sections.matryoshka_section(evaluations, baselines),
             sections.recommendations_section(recs, {i: it.title for i, it in ITEMS.items()},
                                              relevance_rate(recs), "Recommendations",
                                              per_item=2),
             sections.served_section(served)]
    assert all(s is not None for s in built)
    return RunReport("kpdistill run report", built, "a test run")


def test_report_files_and_round_trip(tmp_path):
    report = _full_report()
    paths = save_report(report, tmp_path)
    markdown = paths["markdown"].read_text()
    assert "| distilled_64 |" in markdown and "![" in markdown
    for name in ("judge_calibration", "training_curves", "matryoshka"):
        png = tmp_path / "report_files" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"report_files/{name}.png" in markdown
    html = paths["html"].read_text()
    assert html.count("<table>") == sum(len(s.tables) for s in report.sections)
    assert html.count("data:image/png;base64,") == 3 and "report_files/" not in html
    assert "data:image/png;base64," in render_markdown(report, inline_figures=True)
    again = load_report(paths["json"])
    assert render_html(again) == render_html(report)
    again.replace_section(Section("Baselines", ["replaced"]))
    again.replace_section(Section("New", tables=[Table(["a"], [[1]])]))
    assert again.sections[0].notes == ["replaced"] and again.sections[-1].title == "New"


def test_cells_escape_and_format():
    report = RunReport("<t>", [Section("s", tables=[Table(["a|b"], [["x|y"], [float("nan")],
                                                                     [1234], [0.12345]])])])
    md, html = render_markdown(report), render_html(report)
    assert "x\\|y" in md and "| — |" in md and "1,234" in md and "0.123" in md
    assert "&lt;t&gt;" in html and "<t>" not in html.replace("<title>", "").replace("<td", "")


def test_sections_without_inputs_are_left_out():
    assert sections.baselines_section(None) is None
    assert sections.judge_section([], JUDGMENTS) is None
    assert sections.training_section({"x": {}}) is None
    assert sections.matryoshka_section({}, None) is None
    assert sections.recommendations_section([], {}, None, "t") is None


def test_the_assistant_row_comes_from_its_training_steps_metrics(tmp_path):
    """The evaluation steps no longer score the assistant: its test row is the one its
    training step logged (``test.<metric>``), as report_run hands it over."""
    from components.data.bundle import DataBundle
    from components.data.splits import QuerySplit
    from components.evaluation.report_builder import ReportInputs, build_run_report

    split = QuerySplit({"q1": "train", "q2": "validation", "q3": "test"})
    DataBundle(ITEMS, JUDGMENTS, split, UNIVERSE).save(tmp_path / "data")
    results = tmp_path / "distilled.json"
    results.write_text(json.dumps({"distilled": {"ndcg@10": 0.7, "mrr": 0.9}}))
    row = {"ndcg@10": 0.61, "recall@10": 0.23, "precision@10": 0.84, "mrr": 0.83}
    report, _ = build_run_report(ReportInputs(
        data=tmp_path / "data", evaluations={"distilled": results}, assistant_test=row,
        assistant_agreement={"auc": 0.44, "kappa": 0.0}, relevance_items=0))
    assistant = next(s for s in report.sections if s.title == "Cross-encoder (assistant)")
    assert assistant.tables[0].rows[0][:5] == ["cross_encoder (assistant)", 0.61, 0.23, 0.84,
                                               0.83], assistant.tables[0].rows
    students = next(s for s in report.sections if s.title == "Students (bi-encoders)")
    assert [r[0] for r in students.tables[0].rows] == ["distilled"]


def check_rendered(rendered: dict, tables: int, images: int) -> None:
    """Every table has rows and cells and takes space; every image decoded and shows."""
    assert len(rendered["tables"]) == tables, rendered
    for table in rendered["tables"]:
        assert table["rows"] >= 2 and table["cells"] >= 1 and table["height"] > 20, table
    assert len(rendered["images"]) == images, rendered
    for image in rendered["images"]:
        assert image["complete"] and image["natural_width"] > 100, image
        assert image["width"] > 100 and image["height"] > 100, image


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path, chromium):
    report = _full_report()
    page = save_report(report, tmp_path)["html"]
    screenshot = artifacts_dir() / "test-output" / "run_report_unit.png"
    rendered = chromium.render(page, screenshot)
    check_rendered(rendered, sum(len(s.tables) for s in report.sections), 3)
    assert rendered["headings"] == [s.title for s in report.sections]
    assert screenshot.read_bytes()[:4] == b"\x89PNG" and screenshot.stat().st_size > 20_000
    print(f"screenshot: {screenshot}")
    json.dumps(rendered)
