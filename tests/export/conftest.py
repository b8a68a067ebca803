"""One exported repository per test session (shared with tests/serving/triton via basetemp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.export.config import ExportConfig
from components.export.repository import build_model_repository
from components.export.standin import standin_cross_encoder, standin_student

TEST_CONFIG = dict(parity_samples=32, max_batch_size=64, preferred_batch_sizes=(8, 32, 64),
                   tokenizer_instances=1, max_seq_length=64,
                   # the fp32 export, checked to reproduce torch exactly; the int8 default
                   # is gated in test_export_quantize.py and served in the gateway e2e
                   student_precision="fp32")


def shared_repository(tmp_path_factory) -> Path:
    repo = tmp_path_factory.getbasetemp() / "kpdistill-model-repository"
    if not (repo / "embed_text" / "config.pbtxt").is_file():
        config = ExportConfig.from_yaml(**TEST_CONFIG)
        build_model_repository(standin_student(), standin_cross_encoder(), repo,
                               target="python-onnx", config=config, overwrite=True)
    return repo


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory) -> Path:
    return shared_repository(tmp_path_factory)


@pytest.fixture(scope="session")
def test_config() -> ExportConfig:
    return ExportConfig.from_yaml(**TEST_CONFIG)
