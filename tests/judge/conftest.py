"""Judge fixtures (the tiny causal LM ``tiny_judge_dir`` is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from components.data.esci import Item


@pytest.fixture
def item() -> Item:
    return Item(item_id="B0TEST", title="Stainless steel water bottle, 750 ml",
                brand="Hydra", category="Sports > Water Bottles",
                bullet_points="Keeps drinks cold for 24 hours")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run far faster on one thread than on two contended ones (a module asks
    for it with ``pytest.mark.usefixtures("one_thread")``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
