"""ONNX export: named tensors, dynamic axes, Matryoshka truncation, and the parity gate."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from components.export import onnx_export, parity
from components.export.config import ExportConfig
from components.export.graphs import EmbeddingGraph, load_embedding_graph
from components.export.standin import standin_student
from components.export.templates import encoding_module, tokenization_module
from components.models.pretrained import minilm_path

enc = encoding_module()


@pytest.fixture(scope="module")
def texts():
    return parity.parity_texts(16)


@pytest.mark.slow
def test_student_onnx_has_named_dynamic_tensors(model_repository):
    model = onnx.load(str(model_repository / "encoder" / "1" / "model.onnx"))
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == ["input_ids", "attention_mask"]
    for tensor in inputs.values():
        dims = tensor.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"]
    assert [o.name for o in model.graph.output] == ["embedding"]


@pytest.mark.slow
def test_exported_encoder_is_unit_length_at_any_batch_and_length(model_repository):
    runner = enc.OnnxRunner(model_repository / "encoder" / "1" / "model.onnx")
    t = tokenization_module().BatchTokenizer(minilm_path(), max_length=128)
    for texts in (["wireless mouse"], ["a"] * 3 + ["stainless steel water bottle " * 12]):
        out = runner(t.encode(texts))
        assert out.shape == (len(texts), 384)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_parity_reports_are_published_with_the_models(model_repository, test_config):
    student = json.loads((model_repository / "encoder" / "1" / "parity.json").read_text())
    cross = json.loads((model_repository / "cross_encoder" / "1" / "parity.json").read_text())
    assert student["min_cosine"] >= test_config.min_cosine and student["embedding_dim"] == 384
    assert cross["max_score_diff"] <= test_config.max_score_diff
    assert student["target"] == cross["target"] == "python-onnx"


@pytest.mark.slow
def test_matryoshka_export_truncates_and_renormalises(tmp_path, texts):
    config = ExportConfig.from_yaml(matryoshka_dim=64, max_seq_length=64)
    path = onnx_export.export_student(standin_student(), tmp_path / "m64.onnx", config)
    items, keyphrases = texts
    report = parity.check_student(path, standin_student(), config, items + keyphrases)
    assert report.embedding_dim == 64 and report.min_cosine >= 0.9999


@pytest.mark.slow
def test_broken_export_fails_the_parity_gate(tmp_path, texts):
    """CLS pooling for a mean-pooling student is a plausible export bug: it must not pass."""
    config = ExportConfig.from_yaml(max_seq_length=64)
    good = load_embedding_graph(standin_student())
    broken = EmbeddingGraph(good.backbone, pooling="cls")
    path = onnx_export._export(broken, onnx_export.STUDENT_INPUTS, ("embedding",),
                               tmp_path / "broken.onnx", config.opset)
    items, keyphrases = texts
    with pytest.raises(parity.ParityError, match="min cosine"):
        parity.check_student(path, standin_student(), config, items + keyphrases)


def test_matryoshka_dim_wider_than_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="exceeds"):
        onnx_export.export_student(standin_student(), tmp_path / "x.onnx",
                                   ExportConfig.from_yaml(matryoshka_dim=1000))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="target"):
        ExportConfig(target="tflite")
    with pytest.raises(ValueError, match="matryoshka"):
        ExportConfig(matryoshka_dim=0)
    with pytest.raises(ValueError, match="preferred"):
        ExportConfig(max_batch_size=8, preferred_batch_sizes=(16,))
    assert ExportConfig.from_yaml().target == "auto"
