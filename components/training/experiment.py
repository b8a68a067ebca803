"""The experiment (``make bench-train``): assistant, pool, click-only / distilled / one-step
students over several seeds, evaluated on the test queries' human labels.

Writes ``<out>/training.json`` and ``.md`` (every measurement), merges the model keys
``click_only``, ``cross_encoder``, ``distilled``, ``distilled_256/128/64`` and ``one_step`` into
``<out>/quality.json`` / ``.md`` beside the baselines, plots ``<out>/training.png``, and saves
the shipped models (cross-encoder, distilled student of the first seed) with model cards.
Tuning and checkpoint choice use validation queries only.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from components.baselines.evaluate import query_side
from components.clicks.simulator import ClickConfig, ClickLog, simulate_clicks
from components.contracts import ITEM_FIELDS as FIELDS
from components.data import (
    build_keyphrase_universe,
    load_items,
    load_judgments,
    load_wands_queries,
    split_queries,
)
from components.device import pick_device, synchronize
from components.evaluation.evaluate import (
    METRICS,
    best_kappa_threshold,
    classification_report,
    evaluate_ranker,
    pair_probabilities,
)
from components.judge.labels import load_teacher_labels
from components.settings import artifacts_dir
from components.training.config import (
    DEMO_CONFIG,
    CrossEncoderConfig,
    StudentConfig,
    TrainingConfig,
    load_config,
)
from components.training.cross_encoder import CrossEncoderScorer, train_cross_encoder
from components.training.examples import (
    HeldOut,
    clicked_pairs,
    distillation_lists,
    judge_pairs,
    trainable_labels,
)
from components.training.model_card import write_model_card
from components.training.pool import (
    PoolScore,
    build_pool,
    pool_summary,
    save_pool_scores,
    trainable_keyphrases,
)
from components.training.report import compare_to_noise, write_training_report
from components.training.student import InMemoryEncoder, build_student, build_tasks, train_student

VARIANT_TASKS = {"click_only": ("clicks",), "one_step": ("clicks", "judge"),
                 "distilled": ("clicks", "distill", "judge")}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Inputs:
    """Everything the experiment reads, loaded once."""

    def __init__(self, items, judgments, split, universe, clicks: ClickLog, all_labels,
                 judge_budget: int | None = None):
        self.items, self.judgments, self.split, self.universe = items, judgments, split, universe
        self.extra_keyphrases = [kp.text for kp in universe if kp.source != "esci"]
        self.clicks = clicks
        self.held_out = HeldOut(split, {j.query_id: j.query for j in judgments})
        self.all_labels = all_labels
        self.labels = trainable_labels(all_labels, self.held_out, judge_budget)
        if not self.labels:
            raise ValueError("no readable teacher labels on train-split or extra keyphrases")
        self.by_split = {s: [j for j in judgments if split.assignment[j.query_id] == s]
                         for s in ("train", "validation", "test")}

    def subset(self, max_queries: int | None, max_extra: int | None) -> Inputs:
        """A smaller experiment (demo, tests): N queries per split, their items, N extra
        keyphrases. The split itself is unchanged; no query changes split."""
        if max_queries is None and max_extra is None:
            return self
        keep = set()
        for name in ("train", "validation", "test"):
            keep.update(self.split.queries(name)[:max_queries])
        judgments = [j for j in self.judgments if j.query_id in keep]
        extra = [kp for kp in self.universe if kp.source != "esci"][:max_extra]
        universe = [kp for kp in self.universe if kp.source == "esci"
                    and kp.keyphrase_id.split(":", 1)[1] in keep] + extra
        item_ids = {j.item_id for j in judgments}
        clicks = ClickLog([r for r in self.clicks.records if r.query_id in keep],
                          [f for f in self.clicks.filtered if f[0] in keep])
        labels = [lab for lab in self.all_labels if lab.item_id in item_ids
                  and (lab.query_id in keep or lab.query_id is None)]
        items = {i: self.items[i] for i in item_ids}
        return Inputs(items, judgments, self.split, universe, clicks, labels)

    @classmethod
    def from_files(cls, teacher_labels: Path, clicks_dir: Path | None = None,
                   judge_budget: int | None = None) -> Inputs:
        items, judgments = load_items(), load_judgments()
        split = split_queries(j.query_id for j in judgments)
        universe = build_keyphrase_universe(judgments, load_wands_queries())
        clicks = (ClickLog.load(clicks_dir) if clicks_dir else
                  simulate_clicks(items, judgments, ClickConfig.from_yaml()))
        return cls(items, judgments, split, universe, clicks, load_teacher_labels(teacher_labels),
                   judge_budget)

    @classmethod
    def from_bundle(cls, bundle, clicks: ClickLog, all_labels,
                    judge_budget: int | None = None) -> Inputs:
        return cls(bundle.items, bundle.judgments, bundle.split, bundle.keyphrases, clicks,
                   all_labels, judge_budget)

    def validation_ndcg(self, scorer) -> float:
        return query_side(scorer, self.items, self.by_split["validation"], FIELDS)["macro"][
            "ndcg@10"]


class _MemoScorer:
    """Scores each distinct (keyphrase, item text) pair once (the report asks twice)."""

    def __init__(self, scorer):
        self.scorer, self.seen = scorer, {}

    def score_pairs(self, keyphrases, item_texts) -> np.ndarray:
        pairs = list(zip(keyphrases, item_texts, strict=True))
        new = list(dict.fromkeys(p for p in pairs if p not in self.seen))
        if new:
            scores = self.scorer.score_pairs([k for k, _ in new], [t for _, t in new])
            self.seen.update(zip(new, (float(x) for x in scores), strict=True))
        return np.array([self.seen[p] for p in pairs])


def _cross_encoder_report(scorer, inputs: Inputs, item_side: bool) -> dict:
    scorer = _MemoScorer(scorer)
    p_val, y_val = pair_probabilities(scorer, inputs.items, inputs.by_split["validation"], FIELDS)
    p_test, y_test = pair_probabilities(scorer, inputs.items, inputs.by_split["test"], FIELDS)
    threshold = best_kappa_threshold(p_val, y_val)
    report = {"judge_like_test": classification_report(p_test, y_test, threshold),
              "judge_like_validation": classification_report(p_val, y_val, threshold)}
    report["test"] = evaluate_ranker(scorer, inputs.items, inputs.by_split["test"],
                                     inputs.universe if item_side else None, FIELDS)
    return report


def _cross_encoder_settings(config: TrainingConfig, objective: str) -> list[CrossEncoderConfig]:
    base = replace(config.cross_encoder, objective=objective)
    sweep = config.experiment.cross_encoder_sweep if objective == "bce" else ()
    return [replace(base, **override) for override in sweep] or [base]


def run_cross_encoders(config: TrainingConfig, inputs: Inputs, models_dir: Path) -> tuple:
    """Train the cross-encoder(s); with a sweep, validation nDCG@10 picks the shipped one."""
    results, shipped = {}, None
    objectives = ("bce", "kl") if config.experiment.compare_kl else ("bce",)
    for objective in objectives:
        out = models_dir / ("cross_encoder" if objective == "bce" else f"cross_encoder_{objective}")
        tried, best = [], None
        for n, ce_config in enumerate(_cross_encoder_settings(config, objective)):
            log(f"cross-encoder ({objective}, setting {n}) on {len(inputs.labels)} teacher labels")
            target = out if n == 0 else models_dir / f"cross_encoder_{objective}_try{n}"
            ce, stats = train_cross_encoder(inputs.labels, inputs.items, ce_config, target,
                                            validate=inputs.validation_ndcg)
            scorer = CrossEncoderScorer(ce, ce_config.max_length,
                                        config.experiment.eval_batch_size)
            value = inputs.validation_ndcg(scorer)
            tried.append({"setting": {k: getattr(ce_config, k) for k in (
                "epochs", "learning_rate", "batch_size", "eval_every")},
                "validation_ndcg@10": round(value, 5), "train": stats.to_dict()})
            log(f"  validation nDCG@10 {value:.4f}")
            if best is None or value > best[0]:
                best = (value, ce, scorer, ce_config, stats, target)
            else:
                del ce, scorer
        _, ce, scorer, ce_config, stats, target = best
        if target != out:
            ce.save(str(out))
        report = _cross_encoder_report(scorer, inputs,
                                       config.experiment.cross_encoder_item_side)
        report["train"] = stats.to_dict()
        if len(tried) > 1:
            report["sweep"] = tried
        results[objective] = report
        log(f"cross-encoder ({objective}): test AUC {report['judge_like_test']['auc']:.4f}, "
            f"nDCG@10 {report['test']['ndcg@10']:.4f}, {stats.examples_per_s:.0f} ex/s")
        if objective == "bce":
            shipped = (scorer, out)
        else:
            del ce, scorer
    return results, shipped


def training_pool(inputs: Inputs, config: TrainingConfig) -> list:
    """The pool of (keyphrase, item) pairs the assistant scores for the student: clicked,
    shown, filtered, retrieved by the zero-shot student and random (components/training/pool.py)."""
    keyphrases = trainable_keyphrases(inputs.clicks, inputs.extra_keyphrases, inputs.held_out,
                                      config.pool)
    zero_shot = InMemoryEncoder(build_student(config.student), batch_size=
                                config.experiment.eval_batch_size)
    pool = build_pool(inputs.clicks, inputs.items, keyphrases, zero_shot.encode, config.pool)
    log(f"pool: {len(pool)} pairs over {len(keyphrases)} keyphrases")
    return pool


def score_pool_pairs(scorer, items, pool: list) -> tuple[list, float]:
    """The assistant's score of each pool pair; (PoolScore rows, seconds of scoring)."""
    device = scorer.device
    synchronize(device)
    start = time.perf_counter()
    scores = scorer.score_pairs([p.keyphrase for p in pool],
                                [items[p.item_id].text(FIELDS) for p in pool])
    synchronize(device)
    seconds = time.perf_counter() - start
    return [PoolScore(p.item_id, p.keyphrase, p.query_id, p.source, float(s))
            for p, s in zip(pool, scores, strict=True)], seconds


def score_pool(scorer, inputs: Inputs, config: TrainingConfig, out_path: Path) -> tuple:
    pool = training_pool(inputs, config)
    rows, seconds = score_pool_pairs(scorer, inputs.items, pool)
    save_pool_scores(out_path, rows)
    summary = pool_summary(pool)
    summary.update({"judged_pairs": len(inputs.labels),
                    "pool_to_judged": round(len(pool) / max(1, len(inputs.labels)), 1),
                    "scoring_seconds": round(seconds, 2),
                    "pairs_per_s": round(len(pool) / seconds, 1),
                    "mean_score": float(np.mean([r.score for r in rows])),
                    "device": str(scorer.device)})
    log(f"pool scored: {summary['pairs_per_s']} pairs/s")
    return rows, summary


def evaluate_student(model, inputs: Inputs, dims, batch_size: int) -> dict:
    full = max(dims)
    return {dim: evaluate_ranker(InMemoryEncoder(model, dim if dim < full else None, batch_size),
                                 inputs.items, inputs.by_split["test"], inputs.universe, FIELDS)
            for dim in dims}


def choose_distill_weight(config: TrainingConfig, inputs: Inputs, pool_rows, clicks,
                          judge) -> tuple[StudentConfig, list[dict]]:
    """The distillation task weight with the best validation nDCG@10 (first seed only)."""
    seed = config.experiment.seeds[0]
    distill = distillation_lists(((r.keyphrase, r.item_id, r.score) for r in pool_rows),
                                 inputs.items, config.student.distill_list_size, seed)
    tried = []
    for weight in config.experiment.distill_weights:
        weights = {**config.student.task_weights, "distill": weight}
        candidate = replace(config.student, tasks=VARIANT_TASKS["distilled"], seed=seed,
                            task_weights=weights)
        model, stats = train_student(candidate, build_tasks(candidate, clicks, distill, judge),
                                     None, validate=inputs.validation_ndcg)
        value = max((v for _, v in stats.validation), default=float("-inf"))
        tried.append({"distill_weight": weight, "validation_ndcg@10": round(value, 5)})
        log(f"distill weight {weight}: validation nDCG@10 {value:.4f}")
        del model
    best = max(tried, key=lambda t: t["validation_ndcg@10"])["distill_weight"]
    weights = {**config.student.task_weights, "distill": best}
    return replace(config.student, task_weights=weights), tried


def run_students(config: TrainingConfig, inputs: Inputs, pool_rows, models_dir: Path,
                 command: str) -> dict:
    clicks = clicked_pairs(inputs.clicks, inputs.items, inputs.held_out)
    judge = judge_pairs(inputs.labels, inputs.items)
    results = {"examples": {"clicks": len(clicks), "judge": len(judge)}}
    student = config.student
    if config.experiment.distill_weights:
        student, results["distill_weight_sweep"] = choose_distill_weight(
            config, inputs, pool_rows, clicks, judge)
    for seed in config.experiment.seeds:
        distill = distillation_lists(((r.keyphrase, r.item_id, r.score) for r in pool_rows),
                                     inputs.items, student.distill_list_size, seed)
        results["examples"]["distill_lists"] = len(distill)
        for variant, task_names in VARIANT_TASKS.items():
            student_config = replace(student, tasks=task_names, seed=seed)
            tasks = build_tasks(student_config, clicks, distill, judge)
            log(f"student {variant} seed {seed}: tasks {[t.name for t in tasks]}")
            save = models_dir / "student" if (variant == "distilled"
                                              and seed == config.experiment.seeds[0]) else None
            model, stats = train_student(student_config, tasks, None,
                                         validate=inputs.validation_ndcg)
            full = max(student_config.matryoshka_dims)
            dims = student_config.matryoshka_dims if variant == "distilled" else (full,)
            metrics = evaluate_student(model, inputs, dims, config.experiment.eval_batch_size)
            entry = results.setdefault(variant, {"seeds": {}, "train": {}})
            entry["seeds"][seed] = metrics
            entry["train"][seed] = stats.to_dict()
            log(f"  test nDCG@10 {metrics[full]['ndcg@10']:.4f}, "
                f"{stats.to_dict()['examples_per_s']} ex/s")
            if save is not None:
                model.save(str(save))
                write_model_card(
                    save, "kpdistill student (distilled bi-encoder)",
                    "MiniLM-L6 bi-encoder, mean pooling, L2-normalised; Matryoshka dims "
                    f"{list(student_config.matryoshka_dims)}.",
                    {"clicked pairs": len(clicks), "teacher labels": len(judge),
                     "distillation lists": f"{len(distill)} × {student_config.distill_list_size}"},
                    [f"clicks: in-batch contrastive (MNRL, scale {student_config.contrastive_scale})",
                     f"distill: {student_config.distill_loss} on cross-encoder pool scores",
                     "judge: BCE on P(relevant)", "all inside MatryoshkaLoss"],
                    {str(d): {m: metrics[d][m] for m in METRICS} for d in dims}, command)
            del model
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return results


def run_experiment(config: TrainingConfig, inputs: Inputs, out: Path, models_dir: Path,
                   command: str) -> dict:
    start = time.perf_counter()
    device = pick_device()
    report = {"command": command, "device": torch.cuda.get_device_name(0)
              if device.type == "cuda" else "cpu", "config": asdict(config),
              "teacher_labels": {"all": len(inputs.all_labels), "trainable": len(inputs.labels)}}
    zero_shot = build_student(config.student)
    report["zero_shot"] = evaluate_student(zero_shot, inputs, config.student.matryoshka_dims,
                                           config.experiment.eval_batch_size)
    del zero_shot
    report["cross_encoder"], (scorer, ce_dir) = run_cross_encoders(config, inputs, models_dir)
    pool_rows, report["pool"] = score_pool(scorer, inputs, config, models_dir / "pool_scores.jsonl")
    write_model_card(ce_dir, "kpdistill cross-encoder (assistant)",
                     "MiniLM-L6 cross-encoder, one logit, sigmoid = P(relevant).",
                     {"teacher labels": len(inputs.labels), "pool scored": len(pool_rows)},
                     ["BCE on the judge's P(relevant)"],
                     {k: report["cross_encoder"]["bce"][k] for k in ("judge_like_test", "test")},
                     command)
    del scorer
    report["students"] = run_students(config, inputs, pool_rows, models_dir, command)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "training_raw.json").write_text(json.dumps(report, indent=1, default=str))
    if config.experiment.anchor:
        from components.training.anchor import time_sentence_transformers_trainer

        clicks = clicked_pairs(inputs.clicks, inputs.items, inputs.held_out)
        try:
            report["anchor"] = time_sentence_transformers_trainer(
                replace(config.student, tasks=("clicks",)), clicks, config.student.max_steps)
        except Exception as exc:  # report, do not lose the rest of the run
            report["anchor"] = {"error": f"{type(exc).__name__}: {exc}"}
    report["seconds"] = round(time.perf_counter() - start, 1)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "training_raw.json").write_text(json.dumps(report, indent=1, default=str))
    report["noise"] = compare_to_noise(report)
    write_training_report(report, out, command)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=DEMO_CONFIG)
    parser.add_argument("--teacher-labels", type=Path, required=True)
    parser.add_argument("--clicks", type=Path, default=None, help="ClickLog directory "
                        "(default: simulate with the click simulator's default config)")
    parser.add_argument("--base-model", default=None,
                        help="override both models' initialisation (name or directory)")
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.base_model:
        config = replace(config, student=replace(config.student, base_model=args.base_model),
                         cross_encoder=replace(config.cross_encoder, base_model=args.base_model))
    command = "python -m components.training.experiment " + shlex.join(
        list(argv) if argv is not None else sys.argv[1:])
    inputs = Inputs.from_files(args.teacher_labels, args.clicks, config.experiment.judge_budget)
    inputs = inputs.subset(config.experiment.max_queries_per_split,
                           config.experiment.max_extra_keyphrases)
    models_dir = args.models_dir or artifacts_dir() / "training"
    models_dir.mkdir(parents=True, exist_ok=True)
    report = run_experiment(config, inputs, args.out, models_dir, command.strip())
    print(json.dumps(report["noise"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
