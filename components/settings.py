"""Project-wide settings read from the environment (prefix ``KPDISTILL_``).

| variable | default | meaning |
| --- | --- | --- |
| ``KPDISTILL_DATA_DIR`` | ``<repo>/../shared/data`` | folder holding ``esci/`` and ``wands/`` (see docs/DATA.md) |
| ``KPDISTILL_CACHE_DIR`` | ``~/.cache/kpdistill`` | unpacked model weights and other derived, re-creatable files |
| ``KPDISTILL_ARTIFACTS_DIR`` | ``<repo>/artifacts`` | build outputs (models, compiled pipelines, local runs) |
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Where the ESCI and WANDS files are read from."""
    env = os.environ.get("KPDISTILL_DATA_DIR")
    return Path(env).expanduser() if env else (REPO_ROOT.parent / "shared" / "data")


def cache_dir() -> Path:
    env = os.environ.get("KPDISTILL_CACHE_DIR")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "kpdistill"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    env = os.environ.get("KPDISTILL_ARTIFACTS_DIR")
    return Path(env).expanduser() if env else REPO_ROOT / "artifacts"
