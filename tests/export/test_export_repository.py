"""The model repository: every config parsed with model_config_pb2, ensemble wiring checked,
versions published atomically, every target's config renders, TensorRT skips with a reason."""

from __future__ import annotations

import logging

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from components.export import repository
from components.export.config import ExportConfig
from components.export.tensorrt_build import TensorRTUnavailable, build_engine, tensorrt_status

TRT_OK, TRT_WHY = tensorrt_status()


def parse(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


def load_configs(repo) -> dict[str, mc.ModelConfig]:
    return {d.name: parse((d / "config.pbtxt").read_text())
            for d in sorted(repo.iterdir()) if (d / "config.pbtxt").is_file()}


def check_ensemble(ensemble: mc.ModelConfig, configs: dict[str, mc.ModelConfig]) -> None:
    """Every step's tensors exist with matching dtypes; the ensemble outputs are produced."""
    available = {t.name: t.data_type for t in ensemble.input}
    for step in ensemble.ensemble_scheduling.step:
        model = configs[step.model_name]
        assert model.max_batch_size >= ensemble.max_batch_size, step.model_name
        inputs = {t.name: t.data_type for t in model.input}
        outputs = {t.name: t.data_type for t in model.output}
        assert set(step.input_map) == set(inputs), f"{step.model_name} inputs not all wired"
        for model_tensor, ensemble_tensor in step.input_map.items():
            assert available[ensemble_tensor] == inputs[model_tensor], (step.model_name,
                                                                        model_tensor)
        for model_tensor, ensemble_tensor in step.output_map.items():
            available[ensemble_tensor] = outputs[model_tensor]
    for out in ensemble.output:
        assert available[out.name] == out.data_type, out.name


@pytest.mark.slow
def test_repository_layout_and_configs(model_repository, test_config):
    configs = load_configs(model_repository)
    assert set(configs) == set(repository.MODELS)
    for name, config in configs.items():
        assert config.name == name
        assert config.max_batch_size == test_config.max_batch_size > 0
        versions = [p.name for p in (model_repository / name).iterdir() if p.is_dir()]
        assert versions == ["1"], f"{name}: only numeric version folders, no staging left"
        if config.platform != "ensemble":
            assert config.backend == "python"
            assert config.HasField("dynamic_batching")
            assert config.instance_group[0].count >= 1
    assert not [p for p in model_repository.parent.iterdir() if ".staging" in p.name]


@pytest.mark.slow
def test_contract_tensors(model_repository):
    configs = load_configs(model_repository)
    embed, score = configs["embed_text"], configs["score_pairs"]
    assert [(t.name, t.data_type, list(t.dims)) for t in embed.input] == \
        [("TEXT", mc.TYPE_STRING, [1])]
    assert [(t.name, t.data_type, list(t.dims)) for t in embed.output] == \
        [("embedding", mc.TYPE_FP32, [-1])]
    assert [(t.name, t.data_type, list(t.dims)) for t in score.input] == \
        [("ITEM_TEXT", mc.TYPE_STRING, [1]), ("KEYPHRASE", mc.TYPE_STRING, [1])]
    assert [(t.name, t.data_type, list(t.dims)) for t in score.output] == \
        [("score", mc.TYPE_FP32, [1])]
    assert list(configs["encoder"].output[0].dims) == [384]


@pytest.mark.slow
def test_ensemble_wiring(model_repository):
    configs = load_configs(model_repository)
    for name in ("embed_text", "score_pairs"):
        check_ensemble(configs[name], configs)
    assert [s.model_name for s in configs["embed_text"].ensemble_scheduling.step] == \
        ["tokenizer", "encoder"]


def test_wiring_check_catches_a_dtype_mismatch():
    config = ExportConfig()
    configs = {"tokenizer": parse(repository.tokenizer_config("tokenizer", config, "TYPE_INT32")),
               "encoder": parse(repository.encoder_config("encoder", "python-onnx", config,
                                                          "embedding", dim=384)),
               }
    ensemble = parse(repository.render_config("embed_text", max_batch_size=config.max_batch_size))
    with pytest.raises(AssertionError):
        check_ensemble(ensemble, configs)


@pytest.mark.parametrize("target", ["tensorrt", "onnxruntime", "python-onnx", "python-torch"])
def test_every_target_renders_a_valid_config(target):
    config = ExportConfig(matryoshka_dim=128, encoder_kind="KIND_CPU")
    encoder = parse(repository.encoder_config("encoder", target, config, "embedding", dim=128))
    cross = parse(repository.encoder_config("cross_encoder", target, config, "score", "cls", 1))
    id_type = mc.TYPE_INT32 if target == "tensorrt" else mc.TYPE_INT64
    assert {t.data_type for t in encoder.input} == {id_type}
    assert [t.name for t in cross.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert list(encoder.output[0].dims) == [128]
    assert encoder.model_warmup[0].batch_size == 8
    assert list(encoder.dynamic_batching.preferred_batch_size) == [16, 64, 256]
    if target == "tensorrt":
        assert encoder.platform == "tensorrt_plan"
        assert encoder.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    elif target == "onnxruntime":
        assert encoder.platform == "onnxruntime_onnx"
    else:
        assert encoder.backend == "python"
        assert encoder.parameters["runtime"].string_value == target.split("-")[1]
    if target == "python-torch":
        assert encoder.parameters["device"].string_value == "cuda"
        assert encoder.parameters["cuda_graphs"].string_value == "true"
        off = ExportConfig(torch_device="cpu")  # cuda_graphs on by default: CUDA only
        plain = parse(repository.encoder_config("encoder", target, off, "embedding", dim=128))
        assert plain.parameters["cuda_graphs"].string_value == "false"  # never on a CPU
    if target == "python-onnx":  # the student runs merged batches in length groups; not the CE
        assert encoder.parameters["max_padding_share"].string_value == "0.1"
        assert "max_padding_share" not in cross.parameters


def test_cuda_trace_without_cuda_is_a_clear_error(tmp_path):
    import torch

    from components.export.onnx_export import save_torchscript
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="CUDA device"):
        save_torchscript(torch.nn.Identity(), ("input_ids",), tmp_path / "m.pt", "cuda")


def test_publish_version_is_all_or_nothing(tmp_path):
    def populate(d):
        (d / "model.py").write_text("x")
    final = repository.publish_version(tmp_path / "m", 1, populate)
    assert (final / "model.py").read_text() == "x"
    with pytest.raises(FileExistsError):
        repository.publish_version(tmp_path / "m", 1, populate)

    def fail(d):
        (d / "half.bin").write_bytes(b"0" * 10)
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        repository.publish_version(tmp_path / "m", 2, fail)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]


def test_existing_repository_is_not_overwritten_by_default(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "keep").write_text("x")
    with pytest.raises(FileExistsError):
        repository.build_model_repository(tmp_path / "s", tmp_path / "c", tmp_path / "repo",
                                          target="python-onnx")


def test_auto_target_falls_back_with_a_log_line(caplog):
    if TRT_OK:
        assert repository.resolve_target("auto") == "tensorrt"
        return
    with caplog.at_level(logging.WARNING):
        assert repository.resolve_target("auto") == "python-onnx"
    assert "TensorRT target skipped" in caplog.text and "falling back" in caplog.text


def test_engine_build_refuses_clearly_without_tensorrt(tmp_path):
    if TRT_OK:
        pytest.skip("TensorRT is available here; the refusal path does not apply")
    from components.export.tensorrt_build import ShapeProfile
    with pytest.raises(TensorRTUnavailable, match="tensorrt"):
        build_engine(tmp_path / "m.onnx", tmp_path / "m.plan", ["input_ids"],
                     ShapeProfile((1, 1), (8, 16), (16, 32)))


@pytest.mark.gpu
@pytest.mark.skipif(not TRT_OK, reason=f"TensorRT engine build needs TensorRT + CUDA: {TRT_WHY}")
def test_tensorrt_engine_builds_from_the_student(tmp_path, test_config):
    import tensorrt as trt

    from components.export.graphs import load_embedding_graph
    from components.export.standin import standin_student
    from components.export.tensorrt_build import ShapeProfile, export_int32_onnx
    onnx32 = export_int32_onnx(load_embedding_graph(standin_student()),
                               ["input_ids", "attention_mask"], ["embedding"],
                               tmp_path / "s.onnx", test_config.opset)
    plan = build_engine(onnx32, tmp_path / "model.plan", ["input_ids", "attention_mask"],
                        ShapeProfile.from_config(test_config))
    engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(plan.read_bytes())
    assert engine.num_optimization_profiles == 1


def test_every_batched_model_sheds_load_with_a_bounded_queue():
    """Work the gateway gave up on is dropped from Triton's queue, not run late."""
    config = ExportConfig(max_queue_size=128, queue_timeout_us=3_000_000)
    rendered = [repository.encoder_config("encoder", "python-onnx", config, "embedding", dim=8),
                repository.encoder_config("cross_encoder", "python-onnx", config, "score", "cls", 1),
                repository.tokenizer_config("tokenizer", config),
                repository.tokenizer_config("pair_tokenizer", config)]
    for text in rendered:
        policy = parse(text).dynamic_batching.default_queue_policy
        assert policy.timeout_action == mc.ModelQueuePolicy.REJECT
        assert policy.default_timeout_microseconds == 3_000_000
        assert policy.allow_timeout_override and policy.max_queue_size == 128
