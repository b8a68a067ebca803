"""Run the whole pipeline on this machine with kfp.local (no Kubernetes, no Docker).

    python -m pipelines.run_local --workdir artifacts/local

Each step runs as a subprocess of this environment (SubprocessRunner, no venv, no pip
install at run time); artifacts land under ``--workdir``. At the end the evaluation tables
are printed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kfp import local

from pipelines.kpdistill import PIPELINE_NAME, kpdistill_pipeline


def newest_output(workdir: Path, task_dir: str, name: str) -> Path:
    runs = sorted((p for p in workdir.glob(f"{PIPELINE_NAME}-*") if p.is_dir()),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        raise FileNotFoundError(f"no run of {PIPELINE_NAME} under {workdir}")
    path = runs[-1] / task_dir / name
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("artifacts/local"))
    parser.add_argument("--data-dir", default="")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir),
               raise_on_error=True)
    start = time.perf_counter()
    kpdistill_pipeline(data_dir=args.data_dir)
    took = time.perf_counter() - start
    print(f"\nPipeline {PIPELINE_NAME} finished locally in {took:.0f} s; artifacts in {workdir}\n")
    print(newest_output(workdir, "evaluate-baselines", "report").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
