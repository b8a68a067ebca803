"""Judge fixtures (the tiny causal LM ``tiny_judge_dir`` is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from components.data.esci import Item


@pytest.fixture
def item() -> Item:
    return Item(item_id="B0TEST", title="Stainless steel water bottle, 750 ml",
                brand="Hydra", category="Sports > Water Bottles",
                bullet_points="Keeps drinks cold for 24 hours")
