"""FP16 TensorRT engines from the exported ONNX, through the TensorRT Python API.

Written for NVIDIA's TensorRT / Triton containers (``import tensorrt`` works there; TensorRT is
not installable from PyPI on machines that cannot reach NVIDIA's index). The engine takes int32
token ids (TensorRT's native index type), so the ONNX fed to it is exported with int32 inputs
(``export_int32_onnx``) and the Triton configs declare ``TYPE_INT32``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from components.export.config import ExportConfig

log = logging.getLogger(__name__)


class TensorRTUnavailable(RuntimeError):
    """TensorRT (or a CUDA device for it) is not available here."""


def tensorrt_status() -> tuple[bool, str]:
    """Whether an engine can be built here, and why not."""
    try:
        import tensorrt  # noqa: F401
    except ImportError as err:
        return False, f"`import tensorrt` failed ({err}); use an NVIDIA TensorRT/Triton container"
    if not torch.cuda.is_available():
        return False, "tensorrt imports but no CUDA device is visible"
    return True, "ok"


@dataclass(frozen=True)
class ShapeProfile:
    """min/opt/max (batch, sequence) of one optimisation profile."""

    min: tuple[int, int]
    opt: tuple[int, int]
    max: tuple[int, int]

    @classmethod
    def from_config(cls, config: ExportConfig) -> ShapeProfile:
        return cls(min=(1, 1), opt=(config.trt_opt_batch, min(32, config.max_seq_length)),
                   max=(config.trt_max_batch, config.max_seq_length))


class Int32Inputs(torch.nn.Module):
    """Takes int32 token tensors, feeds the wrapped graph int64."""

    def __init__(self, graph: torch.nn.Module):
        super().__init__()
        self.graph = graph

    def forward(self, *tensors: torch.Tensor):
        return self.graph(*(t.long() for t in tensors))


def build_engine(onnx_path: Path, plan_path: Path, input_names: list[str],
                 profile: ShapeProfile, workspace_gb: int = 4, fp16: bool = True) -> Path:
    """Parse ``onnx_path``, build a serialized engine, write it aside and rename it in."""
    ok, why = tensorrt_status()
    if not ok:
        raise TensorRTUnavailable(why)
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_gb << 30)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    shapes = builder.create_optimization_profile()
    for name in input_names:
        shapes.set_shape(name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(shapes)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    plan_path = Path(plan_path)
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = plan_path.with_name(f".{plan_path.name}.tmp{os.getpid()}")
    tmp.write_bytes(bytes(engine))
    tmp.replace(plan_path)
    log.info("built TensorRT engine %s (fp16=%s, profile %s)", plan_path, fp16, profile)
    return plan_path


def export_int32_onnx(graph: torch.nn.Module, input_names: list[str], outputs: list[str],
                      out_path: Path, opset: int) -> Path:
    """ONNX of ``graph`` whose token inputs are int32, dynamic batch and sequence; ``outputs``
    names the graph's outputs in order (the cross-encoder's ``dimensions`` after ``score``)."""
    ids = torch.randint(1000, 2000, (2, 8), dtype=torch.int32)
    dummy = tuple(ids if n == "input_ids" else torch.ones_like(ids) if n == "attention_mask"
                  else torch.zeros_like(ids) for n in input_names)
    axes = {n: {0: "batch", 1: "sequence"} for n in input_names}
    axes.update({name: {0: "batch"} for name in outputs})
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        torch.onnx.export(Int32Inputs(graph), dummy, str(out_path), input_names=input_names,
                          output_names=list(outputs), dynamic_axes=axes, opset_version=opset,
                          dynamo=False)
    return out_path
