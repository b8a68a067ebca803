"""A real tritonserver on one exported repository for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.export.config import ExportConfig
from components.export.repository import build_model_repository
from components.export.standin import standin_cross_encoder, standin_student
from serving.triton.server import TritonServer

# Same settings (and same basetemp folder) as tests/export/conftest.py: built once per session.
TEST_CONFIG = dict(parity_samples=32, max_batch_size=64, preferred_batch_sizes=(8, 32, 64),
                   tokenizer_instances=1, max_seq_length=64,
                   # the fp32 export, checked to reproduce torch exactly; the int8 default
                   # is gated in test_export_quantize.py and served in the gateway e2e
                   student_precision="fp32")


@pytest.fixture(scope="session")
def served_repository(tmp_path_factory) -> Path:
    repo = tmp_path_factory.getbasetemp() / "kpdistill-model-repository"
    if not (repo / "embed_text" / "config.pbtxt").is_file():
        build_model_repository(standin_student(), standin_cross_encoder(), repo,
                               target="python-onnx", config=ExportConfig.from_yaml(**TEST_CONFIG),
                               overwrite=True)
    return repo


@pytest.fixture(scope="session")
def triton(served_repository, tmp_path_factory):
    log = tmp_path_factory.getbasetemp() / "tritonserver.log"
    server = TritonServer(served_repository, log_file=log)
    server.start()
    try:
        server.wait_ready(180)
        yield server
    finally:
        server.stop()
