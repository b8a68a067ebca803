"""KFP contracts of ``evaluate`` (a trained student at each Matryoshka dim and the
cross-encoder on the human labels of the test queries; the work is
components.evaluation.evaluate) and ``report_run`` (the run's HTML/Markdown report; the work is
components.evaluation.report_builder)."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(data: Input[Dataset], student: Input[Model], cross_encoder: Input[Model],
             metrics: Output[Metrics], report: Output[Markdown], results: Output[Dataset],
             name: str = "distilled", dims: list = [384, 256, 128, 64],  # noqa: B006
             split: str = "test", cross_encoder_item_side: bool = False,
             with_cross_encoder: bool = True):
    """nDCG@10, recall@10, precision@10, MRR and item-side irrelevant-rate@10; Markdown table.
    ``with_cross_encoder=False`` leaves out the cross-encoder's row (a second evaluation of the
    same assistant in one run would only repeat it)."""
    import json
    import math
    from pathlib import Path

    from components.baselines.rankers import EncoderRanker
    from components.contracts import ITEM_FIELDS as fields
    from components.data.bundle import DataBundle
    from components.evaluation.evaluate import (
        TruncatedEncoder,
        evaluate_ranker,
        metrics_markdown,
    )
    from components.models.cross_encoder import CrossEncoderScorer

    dims = [int(d) for d in dims]  # KFP hands list values over as JSON numbers (floats)
    bundle = DataBundle.load(data.path)
    judgments = bundle.judgments_in(split)
    rows = {}
    full = EncoderRanker(student.path, name)  # encodes each text once for every dimension
    for dim in sorted(dims, reverse=True):
        key = name if dim == max(dims) else f"{name}_{dim}"
        ranker = full if dim == max(dims) else TruncatedEncoder(full, dim, key)
        rows[key] = evaluate_ranker(ranker, bundle.items, judgments, bundle.keyphrases, fields)
    if with_cross_encoder:
        scorer = CrossEncoderScorer.load(cross_encoder.path)
        rows["cross_encoder"] = evaluate_ranker(
            scorer, bundle.items, judgments,
            bundle.keyphrases if cross_encoder_item_side else None, fields)
    for key, row in rows.items():
        for metric, value in row.items():
            if isinstance(value, float) and not math.isnan(value):
                metrics.log_metric(f"{key}.{split}.{metric}", value)
    Path(results.path).write_text(json.dumps(rows, indent=2))
    with open(report.path, "w") as fh:
        fh.write(metrics_markdown(rows, title=f"{split} queries") + "\n")


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def report_run(data: Input[Dataset], baselines: Input[Dataset], labels: Input[Dataset],
               cross_encoder: Input[Model], cross_encoder_metrics: Input[Metrics],
               distilled_results: Input[Dataset], click_only_results: Input[Dataset],
               distilled_student: Input[Model], click_only_student: Input[Model],
               html: Output[HTML], markdown: Output[Markdown], report: Output[Dataset],
               metrics: Output[Metrics], relevance_items: int = 60, k: int = 8,
               threshold: float = 0.5):
    """The run's report: baselines, judge vs humans (calibration plot), assistant (its test
    row and agreement from ``cross_encoder_metrics``, as its training step measured them),
    students, training curves, Matryoshka plot, and the student's top-k keyphrases for
    test-split items rated by the assistant. ``html`` is one self-contained page (the KFP UI shows it),
    ``markdown`` the same with the figures inlined, ``report`` a folder with report.html,
    report.md + report_files/ and report.json (read by the local runner to add the served
    recommendations)."""
    from pathlib import Path

    from components.evaluation.report_builder import ReportInputs, build_run_report
    from components.evaluation.run_report import render_html, render_markdown, save_report

    logged = cross_encoder_metrics.metadata or {}
    agreement = {key.split(".", 1)[1]: value for key, value in logged.items()
                 if key.startswith("judge_like_test.")}
    assistant_test = {key.split(".", 1)[1]: value for key, value in logged.items()
                      if key.startswith("test.")}
    inputs = ReportInputs(
        data=Path(data.path), baselines=Path(baselines.path), labels=Path(labels.path),
        assistant=Path(cross_encoder.path), assistant_agreement=agreement,
        assistant_test=assistant_test,
        evaluations={"distilled": Path(distilled_results.path),
                     "click_only": Path(click_only_results.path)},
        students={"distilled": Path(distilled_student.path),
                  "click_only": Path(click_only_student.path)},
        relevance_items=relevance_items, k=k, threshold=threshold)
    run_report, rate = build_run_report(inputs)
    Path(html.path).write_text(render_html(run_report), encoding="utf-8")
    Path(markdown.path).write_text(render_markdown(run_report, inline_figures=True),
                                   encoding="utf-8")
    save_report(run_report, report.path)
    metrics.log_metric("sections", len(run_report.sections))
    if rate and rate.get("rate") is not None:
        metrics.log_metric("relevance.top_k_rate", rate["rate"])
        metrics.log_metric("relevance.mean_p", rate["mean_p"])
        metrics.log_metric("relevance.items", rate["items"])
