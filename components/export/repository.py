"""Build a Triton model repository from the student and the cross-encoder.

Layout (templates in ``model_repository/``; every version folder is published atomically):

    tokenizer/       python: TEXT -> input_ids, attention_mask
    encoder/         the student: input_ids, attention_mask -> embedding
    embed_text/      ensemble tokenizer -> encoder          (TEXT -> embedding)
    pair_tokenizer/  python: ITEM_TEXT, KEYPHRASE -> input_ids, attention_mask, token_type_ids
    cross_encoder/   the cross-encoder -> score (+ dimensions where it has dimension heads)
    score_pairs/     ensemble pair_tokenizer -> cross_encoder (ITEM_TEXT, KEYPHRASE -> score)

A cross-encoder trained with dimension heads also serves ``dimensions`` (``[dims, 3]``: each
head's P(yes), P(no), P(not mentioned)) from ``cross_encoder`` and ``score_pairs``, whose configs
name the dimensions in order in the ``dimensions`` parameter (comma-separated). A cross-encoder
without heads gets exactly the configs it always had: no second output, no parameter, so a
reader (the gateway) tells the two apart from the model config alone.

Targets for the two encoders: ``python-onnx`` (Python backend + ONNX Runtime, CPU; the one the
PyPI Triton server can serve), ``python-torch`` (Python backend + traced TorchScript, fp16 on CUDA),
``onnxruntime`` (Triton's ONNX Runtime backend) and ``tensorrt`` (FP16 plan, NVIDIA containers).
Nothing is published unless both ONNX exports pass their parity check against torch.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from string import Template

from components.export import onnx_export, parity
from components.export.config import INT8_TARGETS, ExportConfig
from components.export.graphs import (
    DIMENSIONS_OUTPUT,
    backbone_dir,
    cross_encoder_dimensions,
    student_pooling,
)
from components.export.templates import TEMPLATE_DIR

log = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt")
MODELS = ("tokenizer", "encoder", "embed_text", "pair_tokenizer", "cross_encoder", "score_pairs")


def resolve_target(target: str) -> str:
    """``auto`` -> ``tensorrt`` where TensorRT can build here, else ``python-onnx``."""
    if target != "auto":
        return target
    from components.export.tensorrt_build import tensorrt_status
    ok, why = tensorrt_status()
    if ok:
        return "tensorrt"
    log.warning("TensorRT target skipped: %s; falling back to python-onnx "
                "(Python backend + ONNX Runtime)", why)
    return "python-onnx"


def publish_version(model_dir: Path, version: int, populate: Callable[[Path], None]) -> Path:
    """Write a version folder aside (a non-numeric name Triton ignores), then rename it in.

    A server polling the repository sees either no folder ``<version>`` or a complete one.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    final = model_dir / str(version)
    if final.exists():
        raise FileExistsError(f"{final} is already published; publish a new version instead")
    staging = model_dir / f".staging-{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        populate(staging)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def render_config(template: str, **values) -> str:
    """Fill a ``config.pbtxt.tmpl`` of ``model_repository/`` (``template`` = model folder)."""
    text = (TEMPLATE_DIR / template / "config.pbtxt.tmpl").read_text()
    return Template(text).substitute({k: str(v) for k, v in values.items()})


def _copy(files: tuple[str, ...], src: Path, dst: Path, required: tuple[str, ...] = ()) -> None:
    for name in files:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
        elif name in required:
            raise FileNotFoundError(f"{src / name} is missing")


def _runtime_block(target: str, head: str, pooling: str, dim: int | None,
                   threads: int, device: str = "cuda",
                   padding_share: float | None = None,
                   cuda_graphs: bool = False) -> tuple[str, str]:
    def params(**kv) -> str:
        return "\n".join(f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}'
                         for k, v in kv.items())
    if target == "python-onnx":
        grouping = {} if padding_share is None else {"max_padding_share": padding_share}
        return ('backend: "python"\n' + params(runtime="onnx", intra_op_threads=threads,
                                               **grouping),
                "Python backend running ONNX Runtime (CPU) on model.onnx")
    if target == "python-torch":
        graphs = cuda_graphs and device.startswith("cuda")
        return ('backend: "python"\n' + params(runtime="torch", device=device,
                                               cuda_graphs=str(graphs).lower()),
                "Python backend running the traced TorchScript model.pt (fp16 on CUDA"
                + (", CUDA graphs per batch-shape bucket)" if graphs else ")"))
    if target == "onnxruntime":
        return 'platform: "onnxruntime_onnx"', "Triton ONNX Runtime backend on model.onnx"
    if target == "tensorrt":
        return 'platform: "tensorrt_plan"', "TensorRT FP16 engine model.plan (int32 token ids)"
    raise ValueError(f"unknown target {target!r}")


def _warmup_block(config: ExportConfig, inputs: tuple[str, ...], id_type: str) -> str:
    if not config.warmup:
        return ""
    tensors = " ".join(f'inputs {{ key: "{n}" value: {{ data_type: {id_type} dims: [ 16 ] '
                       f'zero_data: true }} }}' for n in inputs)
    batch = min(8, config.max_batch_size)
    return f'model_warmup [ {{ name: "zeros_b{batch}_s16" batch_size: {batch} {tensors} }} ]'


DIMENSIONS_PARAMETER = "dimensions"


def dimension_blocks(dimensions: tuple[str, ...]) -> dict[str, str]:
    """The config fragments that declare the ``dimensions`` output of ``cross_encoder`` and
    ``score_pairs`` (template placeholders), all empty for a model without dimension heads."""
    if not dimensions:
        return {"dimensions_output": "", "dimensions_parameter": "", "dimensions_map": ""}
    bad = [d for d in dimensions if not d or "," in d or '"' in d]
    if bad:
        raise ValueError(f"dimension names must be non-empty without ',' or '\"': {bad}")
    return {
        "dimensions_output": (f',\n  {{ name: "{DIMENSIONS_OUTPUT}" data_type: TYPE_FP32 '
                              f'dims: [ {len(dimensions)}, 3 ] }}'),
        "dimensions_parameter": (f'parameters {{ key: "{DIMENSIONS_PARAMETER}" value: '
                                 f'{{ string_value: "{",".join(dimensions)}" }} }}'),
        "dimensions_map": (f'\n      output_map {{ key: "{DIMENSIONS_OUTPUT}" '
                           f'value: "{DIMENSIONS_OUTPUT}" }}'),
    }


def _inputs(head: str) -> tuple[str, ...]:
    return onnx_export.STUDENT_INPUTS if head == "embedding" else onnx_export.CROSS_ENCODER_INPUTS


def encoder_config(name: str, target: str, config: ExportConfig, head: str,
                   pooling: str = "mean", dim: int | None = None,
                   dimensions: tuple[str, ...] = ()) -> str:
    """``config.pbtxt`` text of ``encoder`` (head ``embedding``) or ``cross_encoder`` (``score``;
    with ``dimensions``, the names of its dimension heads, also the ``dimensions`` output)."""
    id_type = "TYPE_INT32" if target == "tensorrt" else "TYPE_INT64"
    instances, threads = config.encoder_instances, config.ort_threads
    if head == "score":  # the cross-encoder has its own, where set
        instances = config.cross_encoder_instances or instances
        threads = threads if config.cross_encoder_ort_threads is None \
            else config.cross_encoder_ort_threads
    runtime, comment = _runtime_block(target, head, pooling, config.matryoshka_dim,
                                      threads, config.torch_device,
                                      config.max_padding_share if head == "embedding" else None,
                                      config.cuda_graphs)
    kind = "KIND_GPU" if target == "tensorrt" else config.encoder_kind
    # Triton's dynamic batcher merges requests of one shape only; ragged inputs let it hand the
    # Python backend requests of different lengths together (model.py pads them to the
    # longest, and the runners cut that padding back off). Native backends would concatenate
    # ragged inputs into 1-D tensors, which these graphs do not take.
    ragged = " allow_ragged_batch: true" if target.startswith("python-") else ""
    return render_config(
        name, name=name, runtime=runtime, runtime_comment=comment, id_type=id_type,
        ragged=ragged,
        max_batch_size=config.max_batch_size, dim=dim or 1,
        preferred=", ".join(map(str, config.preferred_batch_sizes)),
        queue_delay_us=config.max_queue_delay_us, instances=instances, kind=kind,
        max_queue_size=config.max_queue_size, queue_timeout_us=config.queue_timeout_us,
        warmup=_warmup_block(config, _inputs(head), id_type),
        **(dimension_blocks(dimensions) if head == "score" else {}))


def _encoder_model(out: Path, name: str, target: str, model_dir: Path, onnx_path: Path,
                   config: ExportConfig, head: str, report: dict, dim: int | None,
                   dimensions: tuple[str, ...] = ()) -> None:
    """Write ``out/<name>``: config.pbtxt and its first version."""
    inputs = _inputs(head)
    pooling = student_pooling(model_dir) if head == "embedding" else "cls"
    text = encoder_config(name, target, config, head, pooling, dim, dimensions)
    model_dir_out = out / name
    model_dir_out.mkdir(parents=True, exist_ok=True)
    (model_dir_out / "config.pbtxt").write_text(text)

    def populate(version_dir: Path) -> None:
        if target.startswith("python-"):
            for module in ("model.py", "encoding.py"):
                shutil.copy2(TEMPLATE_DIR / "encoder" / "1" / module, version_dir / module)
        if target == "python-torch":
            _trace(model_dir, head, config, version_dir / "model.pt")
        elif target == "tensorrt":
            _build_plan(model_dir, head, inputs, config, version_dir / "model.plan")
        else:
            shutil.copy2(onnx_path, version_dir / "model.onnx")
        (version_dir / "parity.json").write_text(json.dumps(report, indent=2))

    publish_version(model_dir_out, config.version, populate)


def _trace(model_dir: Path, head: str, config: ExportConfig, out_path: Path) -> None:
    from components.export.graphs import load_embedding_graph, load_score_graph
    graph = (load_embedding_graph(model_dir, config.matryoshka_dim, attn_implementation="sdpa")
             if head == "embedding" else load_score_graph(model_dir, attn_implementation="sdpa"))
    onnx_export.save_torchscript(graph, _inputs(head), out_path, config.torch_device)


def _build_plan(model_dir: Path, head: str, inputs: tuple[str, ...], config: ExportConfig,
                plan_path: Path) -> None:
    from components.export.graphs import load_embedding_graph, load_score_graph
    from components.export.tensorrt_build import ShapeProfile, build_engine, export_int32_onnx
    graph = (load_embedding_graph(model_dir, config.matryoshka_dim) if head == "embedding"
             else load_score_graph(model_dir))
    outputs = ["embedding"] if head == "embedding" else list(graph.output_names)
    onnx32 = export_int32_onnx(graph, list(inputs), outputs,
                               plan_path.with_name("int32.onnx"), config.opset)
    build_engine(onnx32, plan_path, list(inputs), ShapeProfile.from_config(config),
                 config.trt_workspace_gb)
    onnx32.unlink()


def tokenizer_config(name: str, config: ExportConfig, id_type: str = "TYPE_INT64") -> str:
    """``config.pbtxt`` text of ``tokenizer`` or ``pair_tokenizer``."""
    return render_config(
        name, name=name, max_batch_size=config.max_batch_size, id_type=id_type,
        max_length=config.max_seq_length, pair_order=config.pair_order,
        queue_delay_us=config.max_queue_delay_us, instances=config.tokenizer_instances,
        max_queue_size=config.max_queue_size, queue_timeout_us=config.queue_timeout_us)


def _tokenizer_model(out: Path, name: str, model_dir: Path, config: ExportConfig,
                     id_type: str) -> None:
    model_out = out / name
    model_out.mkdir(parents=True, exist_ok=True)
    (model_out / "config.pbtxt").write_text(tokenizer_config(name, config, id_type))

    def populate(version_dir: Path) -> None:
        for module in ("model.py", "tokenization.py"):
            shutil.copy2(TEMPLATE_DIR / "tokenizer" / "1" / module, version_dir / module)
        (version_dir / "tokenizer").mkdir()
        _copy(TOKENIZER_FILES, backbone_dir(model_dir), version_dir / "tokenizer",
              required=("tokenizer.json",))

    publish_version(model_out, config.version, populate)


def _ensemble(out: Path, name: str, config: ExportConfig, **blocks: str) -> None:
    (out / name / "1").mkdir(parents=True, exist_ok=True)
    (out / name / "config.pbtxt").write_text(render_config(
        name, max_batch_size=config.max_batch_size, **blocks))


def build_model_repository(student_dir: Path, cross_encoder_dir: Path, out_dir: Path,
                           target: str = "auto", config: ExportConfig | None = None,
                           overwrite: bool = False) -> Path:
    """Export, check parity, and write the whole repository aside, then rename it to ``out_dir``.

    Raises ``ParityError`` (nothing written) when an export does not reproduce torch.
    """
    config = config or ExportConfig.from_yaml()
    target = resolve_target(target if target != "auto" else config.target)
    precision = student_precision(config, target)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (overwrite=True replaces it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    work = staging / ".onnx"
    try:
        student_onnx = onnx_export.export_student(student_dir, work / "student.onnx", config)
        ce_onnx = onnx_export.export_cross_encoder(cross_encoder_dir, work / "ce.onnx", config)
        items, keyphrases = parity.parity_texts(config.parity_samples)
        student_report = parity.check_student(student_onnx, student_dir, config,
                                              items + keyphrases)
        student_info = {"target": target, **student_report.to_dict(), "precision": precision}
        if precision == "int8":
            student_onnx, student_info["int8"] = _int8_student(
                student_onnx, student_dir, config, items, keyphrases)
        ce_report = parity.check_cross_encoder(ce_onnx, cross_encoder_dir, config,
                                               items, keyphrases)
        id_type = "TYPE_INT32" if target == "tensorrt" else "TYPE_INT64"
        _tokenizer_model(staging, "tokenizer", student_dir, config, id_type)
        _tokenizer_model(staging, "pair_tokenizer", cross_encoder_dir, config, id_type)
        _encoder_model(staging, "encoder", target, student_dir, student_onnx, config,
                       "embedding", student_info, student_report.embedding_dim)
        dimensions = cross_encoder_dimensions(cross_encoder_dir)
        _encoder_model(staging, "cross_encoder", target, cross_encoder_dir, ce_onnx, config,
                       "score", {"target": target, **ce_report.to_dict()}, 1, dimensions)
        _ensemble(staging, "embed_text", config)
        _ensemble(staging, "score_pairs", config, **dimension_blocks(dimensions))
        shutil.rmtree(work)
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("model repository (%s) published at %s", target, out_dir)
    return out_dir


def student_precision(config: ExportConfig, target: str) -> str:
    """The precision the student is served in: ``student_precision`` on the CPU ONNX targets;
    the GPU targets serve their own (fp16 TensorRT plan or TorchScript), int8 is not applied."""
    if config.student_precision == "int8" and (target not in INT8_TARGETS
                                               or config.encoder_kind == "KIND_GPU"):
        log.info("student_precision int8 applies to the CPU ONNX targets %s; the %s target "
                    "(%s) serves its own precision", INT8_TARGETS, target, config.encoder_kind)
        return "fp16" if target in ("tensorrt", "python-torch") else "fp32"
    return config.student_precision


def _int8_student(fp32_onnx: Path, student_dir: Path, config: ExportConfig, items: list[str],
                  keyphrases: list[str]) -> tuple[Path, dict]:
    """The int8 quantization of ``fp32_onnx``, gated against it (QuantizationError)."""
    from components.export import quantize
    int8_onnx = quantize.quantize_int8(fp32_onnx, fp32_onnx.with_name("student-int8.onnx"),
                                       reduce_range=config.int8_reduce_range,
                                       per_channel=config.int8_per_channel)
    report = quantize.check_int8_student(
        fp32_onnx, int8_onnx, parity._tokenizer(backbone_dir(student_dir), config), items,
        keyphrases, config.min_cosine_int8, config.min_rank_overlap_int8)
    return int8_onnx, report.to_dict()


def _swap_in(staging: Path, out_dir: Path) -> None:
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.rename(out_dir, old)
        os.rename(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, out_dir)
