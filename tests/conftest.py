"""Shared fixtures. The real data is read from KPDISTILL_DATA_DIR (default ../shared/data)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_root():
    from components.settings import data_dir

    root = data_dir()
    if not (root / "esci" / "judgments.csv").is_file():
        pytest.fail(f"real data not found under {root}: set KPDISTILL_DATA_DIR (docs/DATA.md)")
    return root


@pytest.fixture(scope="session")
def bundle(data_root):
    from components.data.bundle import DataBundle

    return DataBundle.from_raw(data_root)
