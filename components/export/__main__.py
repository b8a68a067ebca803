"""``python -m components.export``: build the Triton model repository (``make export``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from components.export.config import DEFAULT_CONFIG, TARGETS, ExportConfig
from components.export.repository import build_model_repository
from components.export.standin import standin_cross_encoder, standin_student
from components.settings import artifacts_dir


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Export the student and the cross-encoder "
                                     "into a Triton model repository.")
    parser.add_argument("--student", type=Path, default=None,
                        help="sentence-transformers dir (default: zero-shot MiniLM)")
    parser.add_argument("--cross-encoder", type=Path, default=None,
                        help="CrossEncoder dir (default: MiniLM with a fresh 1-logit head)")
    parser.add_argument("--out", type=Path, default=artifacts_dir() / "model_repository")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--target", choices=TARGETS, default=None)
    parser.add_argument("--matryoshka-dim", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = {"target": args.target} if args.target else {}
    if args.matryoshka_dim:
        overrides["matryoshka_dim"] = args.matryoshka_dim
    config = ExportConfig.from_yaml(args.config, **overrides)
    repo = build_model_repository(args.student or standin_student(),
                                  args.cross_encoder or standin_cross_encoder(), args.out,
                                  config=config, overwrite=True)
    print(f"model repository: {repo}")
    return repo


if __name__ == "__main__":
    main()
