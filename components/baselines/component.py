"""KFP contract of the baseline evaluation. The work is components.baselines.bench."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_baselines(data: Input[Dataset], metrics: Output[Metrics], report: Output[Markdown],
                       results: Output[Dataset],
                       models: list = ["random", "bm25", "minilm_zero_shot", "mpnet_zero_shot"],  # noqa: B006
                       splits: list = ["test"]):  # noqa: B006
    """Score the human-judged pairs with each baseline; nDCG/recall/precision/irrelevant-rate."""
    import json
    import math
    from pathlib import Path

    from components.baselines.bench import BaselineConfig, run_baselines
    from components.baselines.results import markdown_table
    from components.data.bundle import DataBundle

    bundle = DataBundle.load(data.path)
    config = BaselineConfig(models=tuple(models), splits=tuple(splits))
    out = run_baselines(bundle.items, bundle.judgments, bundle.split, bundle.keyphrases, config,
                        command="kfp component evaluate_baselines")
    for key, entry in out.items():
        for split in splits:
            for name, value in entry[split].items():
                if isinstance(value, float) and not math.isnan(value):
                    metrics.log_metric(f"{key}.{split}.{name}", value)
    Path(results.path).write_text(json.dumps(out, indent=2))
    with open(report.path, "w") as fh:
        fh.write("\n\n".join(markdown_table(out, s) for s in splits) + "\n")
