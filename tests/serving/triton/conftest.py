"""A real tritonserver on the session's exported repository (``model_repository``, fp32
student, cross-encoder without heads) for the whole session."""

from __future__ import annotations

import pytest

from serving.triton.server import TritonServer


@pytest.fixture(scope="session")
def triton(model_repository, tmp_path_factory):
    log = tmp_path_factory.getbasetemp() / "tritonserver.log"
    server = TritonServer(model_repository, log_file=log)
    server.start()
    try:
        server.wait_ready(180)
        yield server
    finally:
        server.stop()
