"""KFP contract of ``evaluate``: a trained student (at each Matryoshka dim) and the cross-encoder
on the human labels of the test queries. The work is components.evaluation.evaluate."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(data: Input[Dataset], student: Input[Model], cross_encoder: Input[Model],
             metrics: Output[Metrics], report: Output[Markdown], results: Output[Dataset],
             name: str = "distilled", dims: list = [384, 256, 128, 64],  # noqa: B006
             split: str = "test", cross_encoder_item_side: bool = False):
    """nDCG@10, recall@10, precision@10, MRR and item-side irrelevant-rate@10; Markdown table."""
    import json
    import math
    from pathlib import Path

    from components.baselines.rankers import EncoderRanker
    from components.contracts import ITEM_FIELDS as fields
    from components.data.bundle import DataBundle
    from components.evaluation.evaluate import evaluate_ranker, metrics_markdown
    from components.models.cross_encoder import CrossEncoderScorer

    dims = [int(d) for d in dims]  # KFP hands list values over as JSON numbers (floats)
    bundle = DataBundle.load(data.path)
    judgments = bundle.judgments_in(split)
    rows = {}
    for dim in dims:
        key = name if dim == max(dims) else f"{name}_{dim}"
        ranker = EncoderRanker(student.path, key, truncate_dim=None if dim == max(dims) else dim)
        rows[key] = evaluate_ranker(ranker, bundle.items, judgments, bundle.keyphrases, fields)
    scorer = CrossEncoderScorer.load(cross_encoder.path)
    rows["cross_encoder"] = evaluate_ranker(scorer, bundle.items, judgments,
                                            bundle.keyphrases if cross_encoder_item_side else None,
                                            fields)
    for key, row in rows.items():
        for metric, value in row.items():
            if isinstance(value, float) and not math.isnan(value):
                metrics.log_metric(f"{key}.{split}.{metric}", value)
    Path(results.path).write_text(json.dumps(rows, indent=2))
    with open(report.path, "w") as fh:
        fh.write(metrics_markdown(rows, title=f"{split} queries") + "\n")
