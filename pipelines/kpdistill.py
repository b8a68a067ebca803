"""The kpdistill pipeline: data → click log → (judge → cross-encoder → student) → evaluation.

Wiring only; each step's work lives in ``components/<stage>/`` and its contract in that
stage's ``component.py``.
"""

from kfp import dsl

from components.baselines.component import evaluate_baselines
from components.clicks.component import simulate_click_log
from components.data.component import prepare_data

PIPELINE_NAME = "kpdistill"


@dsl.pipeline(name=PIPELINE_NAME,
              description="Distil an LLM judge through a cross-encoder into a bi-encoder for "
                          "advertiser keyphrase recommendation.")
def kpdistill_pipeline(data_dir: str = "", split_seed: int = 13, click_seed: int = 7,
                       baseline_models: list = ["random", "bm25", "minilm_zero_shot",  # noqa: B006
                                                "mpnet_zero_shot"],
                       eval_splits: list = ["test"]):  # noqa: B006
    data = prepare_data(data_dir=data_dir, split_seed=split_seed).set_display_name("data")
    clicks = simulate_click_log(data=data.outputs["data"], seed=click_seed)
    clicks.set_display_name("click log")
    baselines = evaluate_baselines(data=data.outputs["data"], models=baseline_models,
                                   splits=eval_splits)
    baselines.set_display_name("baselines")
