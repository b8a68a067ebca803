"""Export the student and the cross-encoder to ONNX with named tensors and dynamic axes.

Student: ``input_ids, attention_mask -> embedding [batch, dim]`` (pooling, optional Matryoshka
truncation and L2 normalisation inside the graph). Cross-encoder: ``input_ids, attention_mask,
token_type_ids -> score [batch, 1]`` (sigmoid P(relevant) inside the graph), plus ``dimensions
[batch, dims, 3]`` (each dimension head's P(yes), P(no), P(not mentioned)) when the model was
trained with dimension heads; a model without them has the one output, as before. Batch and
sequence axes are dynamic. Each file is written aside and renamed into place, so a reader never sees a
half-written model.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import onnx
import torch

from components.export.config import ExportConfig
from components.export.graphs import load_embedding_graph, load_score_graph

log = logging.getLogger(__name__)

STUDENT_INPUTS = ("input_ids", "attention_mask")
CROSS_ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _dummy(names: tuple[str, ...], batch: int = 2, seq: int = 8) -> tuple[torch.Tensor, ...]:
    ids = torch.randint(1000, 2000, (batch, seq), dtype=torch.long)
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[1, seq // 2:] = 0
    tensors = {"input_ids": ids, "attention_mask": mask,
               "token_type_ids": torch.zeros(batch, seq, dtype=torch.long)}
    return tuple(tensors[n] for n in names)


def _export(module: torch.nn.Module, inputs: tuple[str, ...], outputs: tuple[str, ...],
            out_path: Path, opset: int) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs}
    axes.update({name: {0: "batch"} for name in outputs})
    with torch.inference_mode(), warnings.catch_warnings():
        # Understood, and checked after export by the parity gate (components/export/parity.py):
        # the tracer's shape checks (the one-logit check, the attention mask's) are constant
        # for a model, and the opset-17 lowering of advanced indexing is exact.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator of advanced "
                                "indexing", category=UserWarning)
        torch.onnx.export(module, _dummy(inputs), str(tmp), input_names=list(inputs),
                          output_names=list(outputs), dynamic_axes=axes, opset_version=opset,
                          dynamo=False, do_constant_folding=True)
    onnx.checker.check_model(str(tmp))
    tmp.replace(out_path)
    log.info("exported %s (%.1f MB)", out_path, out_path.stat().st_size / 1e6)
    return out_path


def export_student(student_dir: Path, out_path: Path, config: ExportConfig) -> Path:
    """The student (a sentence-transformers directory) as ``embedding`` ONNX."""
    graph = load_embedding_graph(student_dir, dim=config.matryoshka_dim)
    hidden = graph.backbone.config.hidden_size
    if config.matryoshka_dim is not None and config.matryoshka_dim > hidden:
        raise ValueError(f"matryoshka_dim {config.matryoshka_dim} exceeds the model's {hidden}")
    return _export(graph, STUDENT_INPUTS, ("embedding",), out_path, config.opset)


def export_cross_encoder(cross_encoder_dir: Path, out_path: Path, config: ExportConfig) -> Path:
    """The cross-encoder (a sentence-transformers CrossEncoder directory) as ``score`` ONNX, with
    the ``dimensions`` output where it has dimension heads."""
    graph = load_score_graph(cross_encoder_dir)
    return _export(graph, CROSS_ENCODER_INPUTS, graph.output_names, out_path, config.opset)


def save_torchscript(graph: torch.nn.Module, inputs: tuple[str, ...], out_path: Path,
                     device: str = "cpu") -> Path:
    """A traced TorchScript copy of ``graph`` for the torch serving target: fp16 when traced on
    CUDA, fp32 on CPU.

    The served model loads it with ``torch.jit.load`` alone (no transformers in the server's
    Python). A trace bakes in the device of the tensors the model creates, so it is traced on
    the device it will serve on; and on a padded batch, so the attention-mask path is recorded.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"tracing for {device} needs a CUDA device here (a TorchScript trace "
                           "bakes in its device); build the python-torch repository on a GPU "
                           "machine or set torch_device: cpu")
    graph = graph.eval().to(device)
    if device.startswith("cuda"):
        graph = graph.half()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")
    example = tuple(t.to(device) for t in _dummy(inputs, batch=3, seq=12))
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(graph, example, check_trace=False)
    torch.jit.save(traced, str(tmp))
    tmp.replace(out_path)
    return out_path


def embedding_dim(onnx_path: Path) -> int:
    """Static width of the ``embedding`` output of an exported student."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    for output in model.graph.output:
        if output.name == "embedding":
            dim = output.type.tensor_type.shape.dim[1]
            if dim.dim_value:
                return int(dim.dim_value)
    raise ValueError(f"{onnx_path}: no static embedding width")
