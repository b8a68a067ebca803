"""Stage ``students``: every split x seed x variant, trained in parallel processes on one GPU.

A variant's tasks are ``components.training.stages.VARIANT_TASKS`` unless the config's
``variant_student`` names them; the examples come from
``components.training.stages.student_examples`` (the pipeline's own stage function) on the
split's train queries (clicks, Search relevance, the judge's labels of their click-log pairs)
and the fold-independent training keyphrases (the judge's labels, the assistant's pool).
Each job writes ``students/<split>/<variant>_s<seed>.json``: per-query test metrics at each
Matryoshka dimension, validation curve and throughput.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench.cv.common import Data, load_splits, log, lora_labels_path, score_judged, write_json
from bench.cv.config import CVConfig, load_cv_config
from components.clicks.simulator import ClickLog
from components.data.splits import QuerySplit
from components.judge.labels import load_teacher_labels
from components.training.examples import HeldOut
from components.training.stages import student_examples
from components.training.student import InMemoryEncoder, build_tasks, train_student


def job_path(work: Path, split: str, variant: str, seed: int) -> Path:
    return work / "students" / split / f"{variant}_s{seed}.json"


def pool_rows(work: Path):
    pool = np.load(work / "pool" / "pool_scores.npz")
    return zip(pool["keyphrase"].tolist(), pool["item_id"].tolist(),
               pool["score"].astype(float).tolist(), strict=True)


def run_job(config: CVConfig, work: Path, split_name: str, variant: str, seed: int) -> dict:
    data = Data.load(config.max_queries)
    split: QuerySplit = load_splits(work)[split_name]
    held_out = HeldOut(split, data.query_text)
    log_ = ClickLog.load(work / "prepare" / "clicks")
    student_config = replace(config.student_for(variant), base_model=config.base_model,
                             tasks=config.tasks_for(variant), seed=seed)
    labels = []
    if {"judge", "judge_query", "dimensions"} & set(student_config.tasks):
        labels = load_teacher_labels(work / "judge" / "teacher_labels.jsonl")
        if variant in config.lora_variants:  # the fold's LoRA judge's labels, where it has them
            labels = with_labels_of(labels, load_teacher_labels(
                lora_labels_path(work, split_name), ok_only=False))
        labels = [lab for lab in labels
                  if lab.p_relevant is not None and held_out.allows(lab.keyphrase, lab.query_id)]
    pool = pool_rows(work) if "distill" in student_config.tasks else ()
    ex = student_examples(student_config, log_, data.items, held_out, labels, pool, seed)
    tasks = build_tasks(student_config, ex.clicks, ex.distill, ex.judge, ex.sr, ex.judge_query,
                        ex.dimensions)
    validation = split.queries("validation")

    def validate(scorer) -> float:
        return float(np.nanmean([v["ndcg@10"] for v in
                                 score_judged(scorer, data, validation).values()]))

    model, stats = train_student(student_config, tasks, None, validate=validate)
    full = max(student_config.matryoshka_dims)
    dims = student_config.matryoshka_dims if variant.startswith("distilled") else (full,)
    test = split.queries("test")
    per_dim = {str(d): score_judged(InMemoryEncoder(model, d if d < full else None,
                                                    config.eval_batch_size), data, test)
               for d in dims}
    result = {"split": split_name, "variant": variant, "seed": seed,
              "tasks": list(student_config.tasks), "examples": ex.counts(),
              "schedule": {"max_steps": student_config.max_steps,
                           "sampler": student_config.sampler,
                           "task_weights": dict(student_config.task_weights)},
              "train": stats.to_dict(), "per_query": per_dim,
              "ndcg@10": float(np.nanmean([v["ndcg@10"] for v in per_dim[str(full)].values()]))}
    write_json(job_path(work, split_name, variant, seed), result)
    return result


def with_labels_of(base: list, override: list) -> list:
    """``base`` with each (item, keyphrase) pair's label taken from ``override`` where it has
    one (pairs only in ``override`` are added at the end, in its order)."""
    new = {(lab.item_id, lab.keyphrase): lab for lab in override}
    out = [new.pop((lab.item_id, lab.keyphrase), lab) for lab in base]
    return out + list(new.values())


def pending_jobs(config: CVConfig, work: Path) -> list[tuple[str, str, int]]:
    """Jobs without a result yet, in ``config.variants`` order (list the longest first); the
    ``baseline_variants`` are never trained (an earlier round's results stand for them)."""
    return [(s, v, seed) for v in config.variants if v not in config.baseline_variants
            for s in trained_splits(config, work)
            for seed in config.seeds if not job_path(work, s, v, seed).exists()]


def trained_splits(config: CVConfig, work: Path) -> list[str]:
    """The splits that get students (and LoRA judges): the folds, and seed13 if asked."""
    return [s for s in load_splits(work) if s != "seed13" or config.seed13_students]


def run_students(config_path: Path, config: CVConfig, work: Path) -> None:
    """Run every pending job, ``config.parallel_students`` processes at a time."""
    jobs = pending_jobs(config, work)
    log(f"students: {len(jobs)} jobs, {config.parallel_students} at a time")
    running: list[tuple[subprocess.Popen, tuple, float]] = []
    failures = []
    # JAX_PLATFORMS: bm25s imports jax where it is installed, and jax's CUDA plugin fails
    # to start in many processes at once; the students never use jax.
    env = {"JAX_PLATFORMS": "cpu", **os.environ, "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "2"}
    logs = work / "students" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    while jobs or running:
        while jobs and len(running) < max(1, config.parallel_students):
            split, variant, seed = jobs.pop(0)
            fh = open(logs / f"{split}_{variant}_s{seed}.log", "w")  # noqa: SIM115
            cmd = [sys.executable, "-m", "bench.cv.students", "--config", str(config_path),
                   "--work", str(work), "--split", split, "--variant", variant,
                   "--seed", str(seed)]
            running.append((subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env),
                            (split, variant, seed), time.perf_counter()))
        time.sleep(1.0)
        for proc, job, start in list(running):
            if proc.poll() is not None:
                running.remove((proc, job, start))
                status = "ok" if proc.returncode == 0 else f"FAILED rc={proc.returncode}"
                if proc.returncode != 0:
                    failures.append(job)
                log(f"student {job}: {status} in {time.perf_counter() - start:.0f} s")
    if failures:
        raise RuntimeError(f"{len(failures)} student jobs failed: {failures}; see {logs}")
    if config.anchor_steps and not (work / "students" / "anchor.json").exists():
        write_json(work / "students" / "anchor.json", run_anchor(config, work))


def run_anchor(config: CVConfig, work: Path) -> dict:
    """The click task of the first split, ``anchor_steps`` steps, timed twice on the GPU the
    jobs have left: through our trainer and through sentence-transformers'
    ``SentenceTransformerTrainer`` (same model, loss, batch size and steps)."""
    from components.device import pick_device
    from components.training.anchor import time_sentence_transformers_trainer
    from components.training.examples import clicked_pairs

    data = Data.load(config.max_queries)
    split_name = trained_splits(config, work)[0]
    held_out = HeldOut(load_splits(work)[split_name], data.query_text)
    clicks = clicked_pairs(ClickLog.load(work / "prepare" / "clicks"), data.items, held_out)
    student_config = replace(config.student, base_model=config.base_model, tasks=("clicks",),
                             max_steps=config.anchor_steps)
    tasks = build_tasks(student_config, clicks)
    start = time.perf_counter()
    _, stats = train_student(student_config, tasks, None, device=pick_device())
    ours = {"trainer": "kpdistill train_multitask", "steps": stats.steps,
            "batch_size": min(tasks[0].batch_size, len({c.keyphrase for c in clicks})),
            "seconds": round(stats.seconds, 2),
            "examples_per_s": stats.to_dict()["examples_per_s"],
            "wall_s": round(time.perf_counter() - start, 2)}
    try:
        theirs = time_sentence_transformers_trainer(student_config, clicks, config.anchor_steps)
    except Exception as exc:  # noqa: BLE001 - the anchor is a reference, not a result
        theirs = {"error": f"{type(exc).__name__}: {exc}"}
    log(f"anchor: ours {ours['examples_per_s']} ex/s, sentence-transformers "
        f"{theirs.get('examples_per_s', theirs.get('error'))}")
    return {"split": split_name, "clicks": len(clicks), "ours": ours,
            "sentence_transformers": theirs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="one student job of the cross-validation")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--variant", required=True,
                        help="a variant of the config (VARIANT_TASKS or variant_student)")
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    config = load_cv_config(args.config)
    if args.variant not in config.variants:
        parser.error(f"--variant {args.variant!r} is not one of the config's {config.variants}")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    result = run_job(config, args.work, args.split, args.variant, args.seed)
    log(f"{args.split} {args.variant} seed {args.seed}: test nDCG@10 {result['ndcg@10']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
