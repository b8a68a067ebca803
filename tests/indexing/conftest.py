"""Fixtures of the index tests."""

from __future__ import annotations

import pytest
from index_fakes import HashingEncoder

from components.indexing.config import IndexConfig


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture
def lite_config(tmp_path) -> IndexConfig:
    return IndexConfig(uri=str(tmp_path / "index" / "kp.db"), alias="kp_test",
                       request_timeout_s=60)
