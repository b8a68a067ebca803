"""The kpdistill pipeline: data → clicks → judge → cross-encoder → student → export → index,
and the run's report.

Wiring only; each step's work lives in ``components/<stage>/`` and its contract in that
stage's ``component.py``. The keyphrase universe holds the ESCI and WANDS queries and
``mined_keyphrases`` phrases mined from the catalogue. Defaults are the small local budgets
of ``make demo``; a cluster run
passes ``training_config=components/training/full.yaml`` and a larger ``judge_budget``;
``judge_dimensions=True`` has the judge also answer the per-dimension questions
(components/judge/dimensions.py; off in the demo: 8 more forward passes per pair).
Judging and pool scoring fan out over ``shards`` parallel tasks (``dsl.ParallelFor``; each
shard's pairs are those of the items a stable hash gives it, and a merge step checks that
every pair was handled exactly once): on a cluster each shard task gets its own GPU, or with
``judge_endpoint_url`` each calls the shared OpenAI-compatible endpoint. All shards of a
step run at once. Resource requests (GPUs, retries, the judge
endpoint's secret) apply on a cluster and are ignored by kfp.local.
"""

from kfp import dsl

from components.baselines.component import evaluate_baselines
from components.clicks.component import simulate_click_log
from components.data.component import prepare_data
from components.evaluation.component import evaluate, report_run
from components.export.component import export_model
from components.indexing.component import build_index
from components.judge.component import (
    configure_judge_task,
    generate_candidates,
    judge_pairs,
    merge_labels,
    shard_candidates,
)
from components.training.component import (
    build_pool,
    configure_gpu_task,
    merge_scores,
    score_pairs,
    train_bi_encoder,
    train_cross_encoder,
)

PIPELINE_NAME = "kpdistill"


@dsl.pipeline(name=PIPELINE_NAME,
              description="Distil an LLM judge through a cross-encoder into a bi-encoder for "
                          "advertiser keyphrase recommendation.")
def kpdistill_pipeline(
    data_dir: str = "",
    split_seed: int = 13,
    mined_keyphrases: int = 3000,
    max_queries: int = 0,
    click_seed: int = 7,
    baseline_models: list = ["random", "bm25", "minilm_zero_shot"],  # noqa: B006
    judge_budget: int = 96,
    candidate_retrieval_items: int = 0,
    judge_model: str = "",
    judge_endpoint_url: str = "",
    judge_dimensions: bool = False,
    training_config: str = "",
    student_seed: int = 0,
    model_version: str = "student",
    milvus_uri: str = "",
    report_items: int = 60,
    shards: int = 2,
):
    data = prepare_data(data_dir=data_dir, split_seed=split_seed,
                        mined_keyphrases=mined_keyphrases,
                        max_queries=max_queries).set_display_name("data")
    bundle = data.outputs["data"]
    clicks = simulate_click_log(data=bundle, seed=click_seed).set_display_name("click log")
    click_log = clicks.outputs["clicks"]
    baselines = evaluate_baselines(data=bundle, models=baseline_models,
                                   splits=["test"]).set_display_name("baselines")

    candidates = generate_candidates(data=bundle, clicks=click_log, budget=judge_budget,
                                     retrieval_max_items=candidate_retrieval_items)
    judge_shards = shard_candidates(candidates=candidates.outputs["candidates"],
                                    num_shards=shards).set_display_name("shard candidates")
    with dsl.ParallelFor(judge_shards.outputs["Output"]) as shard:
        judge = judge_pairs(data=bundle, candidates=judge_shards.outputs["shards"],
                            model=judge_model, endpoint_url=judge_endpoint_url,
                            dimensions=judge_dimensions, shard=shard)
        configure_judge_task(judge).set_display_name("LLM judge (shard)")
    merged = merge_labels(candidates=judge_shards.outputs["shards"],
                          parts=dsl.Collected(judge.outputs["labels"])
                          ).set_display_name("merge labels")
    labels = merged.outputs["labels"]

    assistant = train_cross_encoder(data=bundle, labels=labels, config_path=training_config)
    configure_gpu_task(assistant).set_display_name("cross-encoder")
    pool = build_pool(data=bundle, clicks=click_log, labels=labels, config_path=training_config,
                      num_shards=shards).set_display_name("pool")
    with dsl.ParallelFor(pool.outputs["Output"]) as pool_shard:
        scored = score_pairs(data=bundle, pool=pool.outputs["pool"],
                             cross_encoder=assistant.outputs["model"], shard=pool_shard,
                             config_path=training_config)
        configure_gpu_task(scored).set_display_name("score pool (shard)")
    pool_scores = merge_scores(pool=pool.outputs["pool"],
                               parts=dsl.Collected(scored.outputs["scores"])
                               ).set_display_name("merge pool scores")

    distilled = train_bi_encoder(data=bundle, clicks=click_log, labels=labels,
                                 scores=pool_scores.outputs["scores"], config_path=training_config,
                                 tasks=["clicks", "sr", "distill", "judge"], seed=student_seed)
    configure_gpu_task(distilled).set_display_name("student (distilled)")
    click_only = train_bi_encoder(data=bundle, clicks=click_log, labels=labels,
                                  scores=pool_scores.outputs["scores"], config_path=training_config,
                                  tasks=["clicks"], seed=student_seed)
    configure_gpu_task(click_only).set_display_name("student (click-only)")

    # The assistant's test row comes from its training step (train_cross_encoder scores the
    # test queries for its report): scoring them again here would only repeat it.
    evaluated = evaluate(data=bundle, student=distilled.outputs["student"],
                         cross_encoder=assistant.outputs["model"], name="distilled",
                         with_cross_encoder=False).set_display_name("evaluate distilled")
    evaluated_click_only = evaluate(data=bundle, student=click_only.outputs["student"],
                                    cross_encoder=assistant.outputs["model"], name="click_only",
                                    dims=[384], with_cross_encoder=False
                                    ).set_display_name("evaluate click-only")
    export = export_model(student=distilled.outputs["student"],
                          cross_encoder=assistant.outputs["model"]).set_display_name("export")
    index = build_index(data=bundle, student=distilled.outputs["student"],
                        model_version=model_version,
                        milvus_uri=milvus_uri).set_display_name("index").after(export)
    # Last, after the index: a report problem never holds up the model or its serving.
    report_run(data=bundle, baselines=baselines.outputs["results"], labels=labels,
               cross_encoder=assistant.outputs["model"],
               cross_encoder_metrics=assistant.outputs["metrics"],
               distilled_results=evaluated.outputs["results"],
               click_only_results=evaluated_click_only.outputs["results"],
               distilled_student=distilled.outputs["student"],
               click_only_student=click_only.outputs["student"],
               relevance_items=report_items).set_display_name("run report").after(index)

