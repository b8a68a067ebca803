"""Run the whole pipeline on this machine with kfp.local (no Kubernetes, no Docker), then
serve what it trained.

    python -m pipelines.run_local --workdir artifacts/local [--no-serve] [-v]

Each step runs as a subprocess of this environment (SubprocessRunner, no venv, no pip install
at run time); artifacts land under ``--workdir``. The terminal gets one line per step as it
starts and ends (seconds, the figures that matter); each step's full output, kfp.local's
included, goes to ``<run>/logs/<task>.log``. ``-v`` (or ``VERBOSE=1``) streams everything
instead. Unless ``--no-serve``, Triton and the gRPC gateway then serve the exported model and
index on loopback and answer for real test-split items. The run's report is written to
``<run>/report.html`` and ``<run>/report.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from kfp import local

from pipelines.console import StepConsole, children_cpu_seconds, task_metadata
from pipelines.kpdistill import PIPELINE_NAME, kpdistill_pipeline

HEADLINE = [  # (label, task, metric key) of the summary table: test nDCG@10
    ("random", "evaluate-baselines", "random.test.ndcg@10"),
    ("BM25", "evaluate-baselines", "bm25.test.ndcg@10"),
    ("MiniLM zero-shot", "evaluate-baselines", "minilm_zero_shot.test.ndcg@10"),
    ("cross-encoder (assistant)", "train-cross-encoder", "test.ndcg@10"),
    ("student, click-only", "evaluate-2", "click_only.test.ndcg@10"),
    ("student, distilled", "evaluate", "distilled.test.ndcg@10"),
    ("student, distilled, 64 dims", "evaluate", "distilled_64.test.ndcg@10"),
]


# Threads that wait for work sleep instead of spinning. Every step's torch runs one OpenMP
# thread per core; by default a thread that finishes its share of an operation spins for the
# next one, and on a 2-core machine shared with another job the spinning thread takes the
# core the working one needs: a training step of the demo's MiniLM (16 pairs x 64 tokens)
# took 7-9 s of CPU with 2 spinning threads against 2.6-2.9 s with 2 sleeping ones or with one
# thread, at a load average of 3-5. On 2 idle cores (pinned on a larger machine) sleeping
# cost ~7% of that step's wall time and nothing in inference. The caller's setting is kept.
STEP_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}


def set_step_environment(environ=os.environ) -> None:
    """Defaults every step's process inherits (kfp.local starts them from this one)."""
    for key, value in STEP_ENVIRONMENT.items():
        environ.setdefault(key, value)


def latest_run(workdir: Path) -> Path:
    runs = sorted((p for p in workdir.glob(f"{PIPELINE_NAME}-*") if p.is_dir()),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        raise FileNotFoundError(f"no run of {PIPELINE_NAME} under {workdir}")
    return runs[-1]


def filter_understood_warnings() -> None:
    """Silence the two kfp.local warnings every step of this pipeline raises, and only them:
    display names, CPU/memory limits and accelerators only apply on a cluster (kfp.local
    ignores them by design), and the steps' base image is the project's own image built from
    this very environment, which is why the SubprocessRunner runs them here without it."""
    warnings.filterwarnings("ignore", message=r"Task '.*': settings \[.*\] have "
                            "no effect in the current local runner", category=UserWarning,
                            module=r"kfp\.local\.")
    warnings.filterwarnings("ignore", message=r"You may be attem\w* to run a task that uses "
                            "custom or non-Python base image", category=RuntimeWarning,
                            module=r"kfp\.local\.")


def verbose_from_env() -> bool:
    return os.environ.get("VERBOSE", "").strip().lower() not in ("", "0", "false", "no")


def headline_table(run: Path) -> list[str]:
    lines = ["| model (test queries) | nDCG@10 |", "|---|---|"]
    for label, task, key in HEADLINE:
        value = task_metadata(run / task).get(key)
        if isinstance(value, int | float):
            lines.append(f"| {label} | {value:.3f} |")
    return lines


def serve(run: Path, verbose: bool) -> tuple[int, Path]:
    """Triton + gateway on the run's exports; real test-split items. (exit code, answers)."""
    served = run / "served.json"
    logs = run / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # The demo-sized cross-encoder (a few dozen steps on ~100 judged pairs) ranks worse than
    # the student, so the demo answers in bi-encoder order; `--rerank` in the CLI client
    # shows the re-ranking path.
    command = [sys.executable, "-m", "bench.serving.demo",
               "--model-repository", str(run / "export-model" / "model_repository"),
               "--student", str(run / "train-bi-encoder" / "student"),
               "--index-uri", str(run / "build-index" / "index" / "keyphrases.db"),
               "--no-rerank", "--out", str(served), "--log-dir", str(logs / "serving"),
               "--explain", "2"]  # where the cross-encoder has dimension heads (README)
    if verbose:
        return subprocess.call(command), served
    with open(logs / "serve.log", "w") as err:
        return subprocess.call([*command, "--brief"], stderr=err), served


def write_report(run: Path, served: Path | None) -> Path | None:
    """``<run>/report.{html,md}``: the report step's report plus the served answers."""
    from components.evaluation.report_sections import served_section
    from components.evaluation.run_report import load_report, save_report

    source = run / "report-run" / "report" / "report.json"
    if not source.is_file():
        return None
    report = load_report(source)
    if served is not None and served.is_file():
        report.replace_section(served_section(json.loads(served.read_text())))
    return save_report(report, run)["html"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("artifacts/local"))
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--judge-budget", type=int, default=96)
    parser.add_argument("--training-config", default="")
    parser.add_argument("--mined-keyphrases", type=int, default=3000,
                        help="catalogue-mined phrases added to the keyphrase universe")
    parser.add_argument("--baselines", nargs="+", default=["random", "bm25", "minilm_zero_shot"])
    parser.add_argument("--candidate-items", type=int, default=1000,
                        help="items the judge's retrieved candidates are searched among")
    parser.add_argument("--max-queries", type=int, default=0,
                        help="only the first N ESCI queries (0: all 150; tests use fewer)")
    parser.add_argument("--report-items", type=int, default=60,
                        help="test-split items whose top 8 the report rates")
    parser.add_argument("--shards", type=int, default=2,
                        help="parallel tasks that judging and pool scoring fan out over "
                             "(dsl.ParallelFor; items split by a stable hash)")
    parser.add_argument("--judge-dimensions", action="store_true",
                        help="the judge also answers the per-dimension questions (8 more "
                             "forward passes per pair; off in the demo)")
    parser.add_argument("--no-serve", action="store_true", help="stop after the pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", default=verbose_from_env(),
                        help="stream every step's full output (also VERBOSE=1)")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    filter_understood_warnings()
    set_step_environment()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir),
               raise_on_error=True)
    start, cpu_start = time.perf_counter(), children_cpu_seconds()
    print(f"Pipeline {PIPELINE_NAME}: 16 steps, judging and pool scoring in {args.shards} "
          f"shards each, on this machine (kfp.local); each step's full log in <run>/logs/",
          flush=True)
    console = StepConsole(workdir, verbose=args.verbose)
    try:
        with console:
            # The demo's judge labels a few dozen pairs: searching 1,000 items for its
            # retrieved candidates is enough, and spares minutes of CPU embedding.
            kpdistill_pipeline(data_dir=args.data_dir, judge_budget=args.judge_budget,
                               training_config=args.training_config,
                               baseline_models=args.baselines,
                               candidate_retrieval_items=args.candidate_items,
                               mined_keyphrases=args.mined_keyphrases,
                               max_queries=args.max_queries,
                               report_items=args.report_items,
                               judge_dimensions=args.judge_dimensions, shards=args.shards)
    except RuntimeError as exc:
        print(f"\nPipeline failed: {exc}", file=sys.stderr)
        return 1
    took = time.perf_counter() - start
    run = console.run_dir or latest_run(workdir)
    print(f"\nPipeline finished in {took:.0f} s (CPU {children_cpu_seconds() - cpu_start:.0f} s "
          "in its steps).\n")
    print("\n".join(headline_table(run)) + "\n")
    code, served = 0, None
    if not args.no_serve:
        print("Serving the distilled student (Triton + gRPC gateway on loopback); top 8 "
              "keyphrases for test-split items, [human grade] where ESCI judged the pair:",
              flush=True)
        serve_start, serve_cpu = time.perf_counter(), children_cpu_seconds()
        code, served = serve(run, args.verbose)
        print(f"served in {time.perf_counter() - serve_start:.0f} s "
              f"(CPU {children_cpu_seconds() - serve_cpu:.0f} s)"
              + ("" if code == 0 else f" (FAILED, exit {code}; log {run / 'logs'})"))
    report = write_report(run, served)
    print("\nWhere everything is:")
    print(f"  run folder     {run}")
    if report is not None:
        print(f"  report         {report}  (and report.md)")
    print(f"  step logs      {run / 'logs'}/<step>.log")
    print(f"  model repo     {run / 'export-model' / 'model_repository'}")
    print(f"  index          {run / 'build-index' / 'index' / 'keyphrases.db'}")
    print(f"Total {time.perf_counter() - start:.0f} s.")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
