"""int8 dynamic quantization of the exported student: close to fp32 on real ESCI text, same
rankings, and a gate that refuses what is not."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from components.export import quantize
from components.export.config import ExportConfig
from components.export.graphs import backbone_dir
from components.export.parity import parity_texts
from components.export.standin import standin_student
from components.export.templates import encoding_module, tokenization_module


@pytest.fixture(scope="module")
def int8_student(model_repository, tmp_path_factory):
    fp32 = model_repository / "encoder" / "1" / "model.onnx"
    out = quantize.quantize_int8(fp32, tmp_path_factory.mktemp("int8") / "student-int8.onnx")
    return fp32, out


@pytest.fixture(scope="module")
def tokenizer(test_config):
    return tokenization_module().BatchTokenizer(backbone_dir(standin_student()),
                                                test_config.max_seq_length)


def test_int8_student_is_quantized_smaller_and_keeps_its_interface(int8_student):
    fp32, int8 = int8_student
    model = onnx.load(str(int8))
    ops = {n.op_type for n in model.graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in model.graph.output] == ["embedding"]
    # the MatMul weights shrink 4x; the token embedding table (a Gather) stays fp32
    assert int8.stat().st_size < 0.7 * fp32.stat().st_size


def test_int8_embeddings_stay_close_and_rank_real_keyphrases_like_fp32(int8_student, tokenizer):
    fp32, int8 = int8_student
    items, keyphrases = parity_texts(48)
    report = quantize.check_int8_student(fp32, int8, tokenizer, items, keyphrases,
                                         min_cosine=0.98, min_rank_overlap=0.8)
    assert report.min_cosine >= 0.98 and report.mean_cosine >= 0.99
    assert report.top10_overlap >= 0.8
    # each item's best keyphrase among the 48 is the same under int8 as under fp32
    runner = encoding_module().OnnxRunner
    a, b = runner(fp32), runner(int8)
    it, kp = tokenizer.encode(items), tokenizer.encode(keyphrases)
    best_fp32 = (a(it) @ a(kp).T).argmax(axis=1)
    best_int8 = (b(it) @ b(kp).T).argmax(axis=1)
    assert np.mean(best_fp32 == best_int8) >= 0.9


def test_the_gate_refuses_an_int8_model_below_its_thresholds(int8_student, tokenizer):
    fp32, int8 = int8_student
    items, keyphrases = parity_texts(8)
    with pytest.raises(quantize.QuantizationError, match="min cosine to fp32"):
        quantize.check_int8_student(fp32, int8, tokenizer, items, keyphrases,
                                    min_cosine=0.999999, min_rank_overlap=0.0)


def test_top_k_overlap_counts_shared_top_columns():
    ref = np.array([[5, 4, 3, 2, 1], [1, 2, 3, 4, 5]], dtype=float)
    assert quantize.top_k_overlap(ref, ref, k=2) == 1.0
    swapped = np.array([[5, 1, 3, 2, 4], [1, 2, 3, 4, 5]], dtype=float)
    assert quantize.top_k_overlap(ref, swapped, k=2) == 0.75
    with pytest.raises(ValueError, match="shapes differ"):
        quantize.top_k_overlap(ref, ref[:1])


def test_int8_applies_to_the_cpu_onnx_targets_only():
    from components.export.repository import student_precision

    int8 = ExportConfig.from_yaml(student_precision="int8")
    assert student_precision(int8, "python-onnx") == "int8"
    assert student_precision(int8, "onnxruntime") == "int8"
    assert student_precision(int8, "python-torch") == "fp16"
    assert student_precision(int8, "tensorrt") == "fp16"
    gpu_onnx = ExportConfig.from_yaml(student_precision="int8", encoder_kind="KIND_GPU")
    assert student_precision(gpu_onnx, "onnxruntime") == "fp32"
    assert student_precision(ExportConfig.from_yaml(student_precision="fp32"),
                             "python-onnx") == "fp32"
    with pytest.raises(ValueError, match="student_precision must be one of"):
        ExportConfig.from_yaml(student_precision="int4")


def test_an_int8_repository_serves_the_gated_int8_student(int8_repository):
    """The session's int8 repository (tests/conftest.py), served in the gateway e2e tests."""
    repo = int8_repository
    report = json.loads((repo / "encoder" / "1" / "parity.json").read_text())
    assert report["precision"] == "int8" and report["int8"]["min_cosine"] >= 0.98
    ops = {n.op_type for n in onnx.load(str(repo / "encoder" / "1" / "model.onnx")).graph.node}
    assert "MatMulInteger" in ops
    ce_ops = {n.op_type for n in
              onnx.load(str(repo / "cross_encoder" / "1" / "model.onnx")).graph.node}
    assert "MatMulInteger" not in ce_ops  # the cross-encoder stays fp32
