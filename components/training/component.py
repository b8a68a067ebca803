"""KFP contracts of training: ``train_cross_encoder``, the pool (``build_pool``, one
``score_pairs`` task a shard under ``dsl.ParallelFor``, ``merge_scores``), ``train_bi_encoder``.

The work is in components.training (cross_encoder, pool, student); ``evaluate`` lives in
components.evaluation.component. Artifacts: ``data`` is a DataBundle directory, ``clicks`` a
ClickLog directory, ``labels`` a directory holding ``teacher_labels.jsonl``, ``scores`` a
directory holding ``pool_scores.jsonl`` (the pool-score contract), models are
sentence-transformers ``CrossEncoder`` / ``SentenceTransformer`` directories with a README
model card. ``config_path`` empty means ``components/training/demo.yaml``.
"""


from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Model, Output

from components.image import IMAGE


def configure_gpu_task(task, gpus: int = 1, accelerator: str = "nvidia.com/gpu",
                       cpu: str = "8", memory: str = "32G"):
    """Ask the cluster for ``gpus`` GPUs (and CPU/memory) for a training or scoring task."""
    task.set_accelerator_type(accelerator).set_accelerator_limit(gpus)
    task.set_cpu_limit(cpu).set_memory_limit(memory)
    return task


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_cross_encoder(data: Input[Dataset], labels: Input[Dataset], model: Output[Model],
                        metrics: Output[Metrics], report: Output[Markdown],
                        config_path: str = "", objective: str = "bce", judge_budget: int = 0):
    """Train the assistant on the judge's soft labels; metrics on validation and test queries.
    ``metrics`` holds its test row (``test.<metric>``), which the run report shows: the
    evaluation steps do not score the assistant again."""
    import json
    from dataclasses import replace
    from pathlib import Path

    from components.clicks.simulator import ClickLog
    from components.contracts import LABELS_FILE
    from components.data.bundle import DataBundle
    from components.evaluation.evaluate import METRICS, metrics_markdown
    from components.judge.labels import load_teacher_labels
    from components.training.config import DEMO_CONFIG, load_config
    from components.training.cross_encoder import CrossEncoderScorer, train_cross_encoder
    from components.training.experiment import Inputs, _cross_encoder_report
    from components.training.model_card import write_model_card, write_training_log

    config = load_config(config_path or DEMO_CONFIG)
    bundle = DataBundle.load(data.path)
    inputs = Inputs.from_bundle(bundle, ClickLog([], []),
                                load_teacher_labels(Path(labels.path) / LABELS_FILE),
                                judge_budget or None)
    ce_config = replace(config.cross_encoder, objective=objective)
    ce, stats = train_cross_encoder(inputs.labels, inputs.items, ce_config, model.path,
                                    validate=inputs.validation_ndcg)
    write_training_log(model.path, stats.curve, stats.validation)
    scorer = CrossEncoderScorer(ce, ce_config.max_length, config.experiment.eval_batch_size)
    result = _cross_encoder_report(scorer, inputs, config.experiment.cross_encoder_item_side)
    result["train"] = stats.to_dict()
    for part in ("judge_like_test", "judge_like_validation"):
        for name in ("auc", "kappa", "threshold"):
            metrics.log_metric(f"{part}.{name}", result[part][name])
    # The assistant's test row of the run report (evaluate does not score it again);
    # irrelevant_rate@10 only where its item side was scored
    for name in METRICS:
        value = result["test"][name]
        if value == value:
            metrics.log_metric(f"test.{name}", value)
    metrics.log_metric("train.examples_per_s", stats.examples_per_s)
    write_model_card(model.path, "kpdistill cross-encoder", f"objective {objective}",
                     {"teacher labels": len(inputs.labels)}, [objective],
                     {k: result[k] for k in ("judge_like_test",)}, "kfp train_cross_encoder")
    model.metadata.update({"objective": objective, "teacher_labels": len(inputs.labels)})
    with open(report.path, "w") as fh:
        fh.write(metrics_markdown({"cross_encoder": result["test"]}) + "\n\n```json\n"
                 + json.dumps(result["judge_like_test"], indent=2) + "\n```\n")


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def build_pool(data: Input[Dataset], clicks: Input[Dataset], labels: Input[Dataset],
               pool: Output[Dataset], metrics: Output[Metrics], config_path: str = "",
               num_shards: int = 2) -> list:
    """The pool the assistant scores for the student (clicked, shown, filtered, retrieved,
    random pairs), split into ``num_shards`` by item (components/sharding.py); returns the
    shard indices for ``dsl.ParallelFor``."""
    from pathlib import Path

    from components.clicks.simulator import ClickLog
    from components.contracts import LABELS_FILE
    from components.data.bundle import DataBundle
    from components.judge.labels import load_teacher_labels
    from components.sharding import write_shards
    from components.training.config import DEMO_CONFIG, load_config
    from components.training.experiment import Inputs, training_pool
    from components.training.pool import pool_summary

    config = load_config(config_path or DEMO_CONFIG)
    inputs = Inputs.from_bundle(DataBundle.load(data.path), ClickLog.load(clicks.path),
                                load_teacher_labels(Path(labels.path) / LABELS_FILE))
    pairs = training_pool(inputs, config)
    summary = pool_summary(pairs)
    summary.update({"judged_pairs": len(inputs.labels),
                    "pool_to_judged": round(len(pairs) / max(1, len(inputs.labels)), 1)})
    indices = write_shards(pool.path, pairs, num_shards, summary=summary)
    for name in ("pairs", "keyphrases", "items", "pool_to_judged"):
        metrics.log_metric(f"pool.{name}", summary[name])
    pool.metadata.update({k: v for k, v in summary.items() if k != "by_source"})
    pool.metadata.update({f"source.{k}": v for k, v in summary["by_source"].items()})
    return indices


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def score_pairs(data: Input[Dataset], pool: Input[Dataset], cross_encoder: Input[Model],
                scores: Output[Dataset], metrics: Output[Metrics], shard: int = 0,
                config_path: str = ""):
    """The assistant's scores of shard ``shard`` of ``build_pool``'s pool."""
    from pathlib import Path

    from components.contracts import POOL_SCORES_FILE
    from components.data.bundle import DataBundle
    from components.sharding import read_shard
    from components.training.config import DEMO_CONFIG, load_config
    from components.training.cross_encoder import CrossEncoderScorer
    from components.training.experiment import score_pool_pairs
    from components.training.pool import PoolPair, save_pool_scores

    config = load_config(config_path or DEMO_CONFIG)
    pairs = read_shard(pool.path, shard, lambda row: PoolPair(**row))
    bundle = DataBundle.load(data.path)
    scorer = CrossEncoderScorer.load(cross_encoder.path,
                                     batch_size=config.experiment.eval_batch_size)
    rows, seconds = score_pool_pairs(scorer, bundle.items, pairs)
    Path(scores.path).mkdir(parents=True, exist_ok=True)
    save_pool_scores(Path(scores.path) / POOL_SCORES_FILE, rows)
    pairs_per_s = round(len(rows) / seconds, 1) if seconds > 0 else 0.0
    metrics.log_metric("pool.pairs", len(rows))
    metrics.log_metric("pool.pairs_per_s", pairs_per_s)
    scores.metadata.update({"shard": shard, "pairs": len(rows), "seconds": round(seconds, 3),
                            "pairs_per_s": pairs_per_s, "device": str(scorer.device)})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def merge_scores(pool: Input[Dataset], parts: Input[list[Dataset]], scores: Output[Dataset],
                 metrics: Output[Metrics]):
    """The shards' pool scores as one file: every pool pair scored exactly once
    (components/sharding.py raises otherwise); reports the pool and the stragglers."""
    import json
    from pathlib import Path

    from components.contracts import POOL_SCORES_FILE
    from components.sharding import SHARD_FILE, merge_exactly_once, read_manifest, stragglers
    from components.training.pool import load_pool_scores, save_pool_scores

    manifest = read_manifest(pool.path)
    expected = []
    for shard in range(manifest["num_shards"]):
        with open(Path(pool.path) / SHARD_FILE.format(shard), encoding="utf-8") as fh:
            expected += [(r["keyphrase"], r["item_id"]) for r in map(json.loads, fh)]
    parts = sorted(parts, key=lambda a: int(a.metadata.get("shard", 0)))
    rows, report = merge_exactly_once(
        expected, [load_pool_scores(Path(a.path) / POOL_SCORES_FILE) for a in parts],
        key=lambda r: (r.keyphrase, r.item_id))
    Path(scores.path).mkdir(parents=True, exist_ok=True)
    save_pool_scores(Path(scores.path) / POOL_SCORES_FILE, rows)
    seconds = [float(a.metadata.get("seconds", 0.0)) for a in parts]
    slow = stragglers(seconds)
    summary = manifest["summary"]
    for name in ("pairs", "keyphrases", "items", "pool_to_judged"):
        metrics.log_metric(f"pool.{name}", summary[name])
    # the shards run side by side: the pool's rate is its pairs over the slowest shard's time
    metrics.log_metric("pool.pairs_per_s",
                       round(len(rows) / max(seconds), 1) if max(seconds, default=0) else 0.0)
    metrics.log_metric("pool.shards", len(parts))
    metrics.log_metric("pool.stragglers", len(slow))
    scores.metadata.update({k: v for k, v in summary.items() if k != "by_source"})
    scores.metadata.update({f"source.{k}": v for k, v in summary["by_source"].items()})
    scores.metadata.update({"shards": len(parts), "stragglers": slow,
                            "duplicates_dropped": report["duplicates_dropped"]})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_bi_encoder(data: Input[Dataset], clicks: Input[Dataset], labels: Input[Dataset],
                     scores: Input[Dataset], student: Output[Model], metrics: Output[Metrics],
                     tasks: list = ["clicks", "sr", "distill", "judge"],  # noqa: B006
                     config_path: str = "", seed: int = 0, distill_loss: str = ""):
    """Train the multi-task Matryoshka student; tasks ['clicks'] is the click-only baseline."""
    from dataclasses import replace
    from pathlib import Path

    from components.clicks.simulator import ClickLog
    from components.contracts import LABELS_FILE, POOL_SCORES_FILE
    from components.data.bundle import DataBundle
    from components.judge.labels import load_teacher_labels
    from components.training.config import DEMO_CONFIG, load_config
    from components.training.experiment import Inputs
    from components.training.model_card import write_model_card, write_training_log
    from components.training.pool import load_pool_scores
    from components.training.stages import student_examples
    from components.training.student import build_tasks, train_student

    config = load_config(config_path or DEMO_CONFIG)
    inputs = Inputs.from_bundle(DataBundle.load(data.path), ClickLog.load(clicks.path),
                                load_teacher_labels(Path(labels.path) / LABELS_FILE))
    student_config = replace(config.student, tasks=tuple(tasks), seed=seed,
                             distill_loss=distill_loss or config.student.distill_loss)
    pool = load_pool_scores(Path(scores.path) / POOL_SCORES_FILE)
    ex = student_examples(student_config, inputs.clicks, inputs.items, inputs.held_out,
                          inputs.labels, ((r.keyphrase, r.item_id, r.score) for r in pool), seed)
    task_list = build_tasks(student_config, ex.clicks, ex.distill, ex.judge, ex.sr,
                            ex.judge_query, ex.dimensions)
    _, stats = train_student(student_config, task_list, student.path,
                             validate=inputs.validation_ndcg)
    write_training_log(student.path, stats.curve, stats.validation)
    summary = stats.to_dict()
    for name, value in summary["final_loss"].items():
        metrics.log_metric(f"final_loss.{name}", value)
    metrics.log_metric("train.examples_per_s", summary["examples_per_s"] or 0.0)
    if stats.validation:
        metrics.log_metric("validation.best_ndcg@10", max(v for _, v in stats.validation))
    write_model_card(student.path, "kpdistill student", f"tasks {list(tasks)}",
                     {t.name: len(t.examples) for t in task_list},
                     [f"{student_config.distill_loss} (distill)", "MNRL (clicks)",
                      f"{student_config.judge_loss} (judge)", "BCE (sr)", "Matryoshka"], summary, "kfp train_bi_encoder")
    student.metadata.update({"tasks": list(tasks), "seed": seed,
                             "matryoshka_dims": list(student_config.matryoshka_dims)})
