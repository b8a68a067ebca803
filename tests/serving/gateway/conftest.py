"""Fixtures of the gateway tests: a real Milvus Lite index built with the hashing encoder."""

from __future__ import annotations

import pytest
from gateway_fakes import HashingEncoder, records

from components.indexing.builder import build_keyphrase_index
from components.indexing.config import IndexConfig

ALIAS = "kp_gateway_test"


@pytest.fixture(scope="session")
def hashed_index(tmp_path_factory) -> IndexConfig:
    """A Lite index of the test keyphrases, embedded by the hashing encoder (dim 32), built once
    for every gateway test that only reads it."""
    config = IndexConfig(uri=str(tmp_path_factory.mktemp("index") / "kp.db"), alias=ALIAS,
                         request_timeout_s=60)
    build_keyphrase_index(records(), HashingEncoder(), config, "hashing-v1")
    return config
