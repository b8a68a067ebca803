"""Compile the pipeline to YAML for a KFP cluster.

    python -m pipelines.compile --out artifacts/pipelines
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kfp import compiler

from pipelines.kpdistill import PIPELINE_NAME, kpdistill_pipeline


def compile_pipeline(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{PIPELINE_NAME}.yaml"
    compiler.Compiler().compile(kpdistill_pipeline, package_path=str(path))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("artifacts/pipelines"))
    args = parser.parse_args(argv)
    print(compile_pipeline(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
