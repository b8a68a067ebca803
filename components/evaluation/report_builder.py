"""Assemble a pipeline run's report from the files its steps wrote.

:class:`ReportInputs` names those files (each optional); :func:`build_run_report` reads them,
recommends the top-k keyphrases for a sample of test-split items with the distilled student,
has the assistant rate them (the relevance rate) and returns the report and that rate.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from components.data.bundle import DataBundle
from components.evaluation import report_sections as sections
from components.evaluation.relevance import (
    human_grades,
    rated_recommendations,
    recommend,
    relevance_rate,
    sample_items,
)
from components.evaluation.run_report import RunReport

RECOMMENDATIONS_TITLE = "Recommendations for test-split items (offline, distilled student)"


@dataclass
class ReportInputs:
    data: Path
    baselines: Path | None = None              # evaluate_baselines results JSON
    labels: Path | None = None                 # judge_pairs labels directory
    assistant: Path | None = None              # cross-encoder model directory
    assistant_agreement: dict = field(default_factory=dict)  # judge_like_test.{auc,kappa,...}
    assistant_test: dict = field(default_factory=dict)  # its test row: ndcg@10, mrr, ...
    evaluations: dict[str, Path] = field(default_factory=dict)  # name -> evaluate results JSON
    students: dict[str, Path] = field(default_factory=dict)     # name -> student directory
    relevance_items: int = 60
    k: int = 8
    threshold: float = 0.5


def _json(path: Path | None) -> dict | None:
    return json.loads(Path(path).read_text()) if path and Path(path).is_file() else None


def _labels(directory: Path | None) -> list:
    from components.contracts import LABELS_FILE
    from components.judge.labels import load_teacher_labels

    if directory is None or not (Path(directory) / LABELS_FILE).is_file():
        return []
    return load_teacher_labels(Path(directory) / LABELS_FILE)


def offline_recommendations(bundle: DataBundle, student: Path, assistant: Path | None,
                            n_items: int, k: int, threshold: float):
    """Top-k of ``n_items`` test-split items from the bundle's universe, rated by the assistant."""
    from components.baselines.rankers import EncoderRanker

    item_ids = sample_items(bundle.items, bundle.judgments, bundle.split.queries("test"),
                            n_items)
    recs = recommend(EncoderRanker(student, "student"), bundle.items, item_ids,
                     bundle.keyphrases, k)
    scorer = None
    if assistant is not None:
        from components.models.cross_encoder import CrossEncoderScorer

        scorer = CrossEncoderScorer.load(assistant, batch_size=64)
    rated_recommendations(recs, scorer, bundle.items, human_grades(bundle.judgments))
    return recs, relevance_rate(recs, threshold)


def build_run_report(inputs: ReportInputs, title: str = "kpdistill run report"):
    """(RunReport, relevance rate dict or None)."""
    from components.contracts import read_training_log

    bundle = DataBundle.load(inputs.data)
    manifest = bundle.manifest()
    subtitle = (f"{time.strftime('%Y-%m-%d %H:%M')} · {manifest['items']:,} items, "
                f"{manifest['judgments']:,} human judgments, {manifest['keyphrases']:,} "
                "keyphrases (" + ", ".join(f"{n:,} {s}" for s, n in
                                            manifest["keyphrases_by_source"].items() if n)
                + ")")
    baselines = _json(inputs.baselines)
    evaluations = {name: _json(p) for name, p in inputs.evaluations.items()}
    evaluations = {name: res for name, res in evaluations.items() if res}
    # The assistant's test row as its training step measured it; an evaluation that scored
    # the assistant itself (evaluate's with_cross_encoder) is shown instead where there is one.
    assistant_rows = next((res["cross_encoder"] for res in evaluations.values()
                           if "cross_encoder" in res), None) or inputs.assistant_test or None
    logs = {f"student ({name})": read_training_log(p) for name, p in inputs.students.items()}
    if inputs.assistant:
        logs["cross-encoder"] = read_training_log(inputs.assistant)
    rate, recs_section = None, None
    student = inputs.students.get("distilled") or next(iter(inputs.students.values()), None)
    if student is not None and inputs.relevance_items > 0:
        recs, rate = offline_recommendations(bundle, Path(student), inputs.assistant,
                                             inputs.relevance_items, inputs.k, inputs.threshold)
        titles = {i: bundle.items[i].title for i in {r.item_id for r in recs}}
        recs_section = sections.recommendations_section(
            recs, titles, rate, RECOMMENDATIONS_TITLE, per_item=inputs.k,
            notes=["The student's top keyphrases from the whole universe for a sample of "
                   "test-split items, each rated by the assistant; the human grade where ESCI "
                   "judged the pair (E exact, S substitute, C complement, I irrelevant)."])
    built = [sections.baselines_section(baselines),
             sections.judge_section(_labels(inputs.labels), bundle.judgments),
             sections.assistant_section(assistant_rows, inputs.assistant_agreement),
             sections.students_section(evaluations),
             sections.training_section(logs),
             sections.matryoshka_section(evaluations, baselines),
             recs_section]
    return RunReport(title, [s for s in built if s is not None], subtitle), rate
