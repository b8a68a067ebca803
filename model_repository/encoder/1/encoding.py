"""Pure logic of the ``encoder`` / ``cross_encoder`` Python-backend models: merge the requests
of a batch into one padded tensor set, run one forward pass, split the result back.

Two runners: ONNX Runtime on the exported ``model.onnx`` (CPU), and torch on the Hugging Face
weights in ``hf/`` (fp16 on CUDA, using ``graphs.py`` copied beside this file). No Triton import.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def merge_requests(batches: Sequence[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray],
                                                                       list[int]]:
    """Right-pad every request's ``[rows, seq]`` tensors to the longest seq and stack them.

    Padding positions get 0 in every tensor, so ``attention_mask`` hides them from the model.
    """
    if not batches:
        raise ValueError("no requests to merge")
    names = list(batches[0])
    for b in batches:
        for name in names:
            if b[name].ndim != 2:
                raise ValueError(f"{name} must be [batch, sequence], got shape {b[name].shape}")
    longest = max(b[names[0]].shape[1] for b in batches)
    merged = {}
    for name in names:
        parts = []
        for b in batches:
            t = b[name]
            parts.append(np.pad(t, ((0, 0), (0, longest - t.shape[1]))))
        merged[name] = np.concatenate(parts, axis=0)
    return merged, [b[names[0]].shape[0] for b in batches]


def split_output(output: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    bounds = np.cumsum([0, *sizes])
    return [output[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class OnnxRunner:
    """ONNX Runtime session over an exported model, CPU execution provider."""

    def __init__(self, model_path: Path | str, intra_op_threads: int = 0):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: inputs[name].astype(np.int64, copy=False) for name in self.input_names}
        return self.session.run([self.output_name], feed)[0].astype(np.float32, copy=False)


class TorchRunner:
    """The same graph in torch (``graphs.py``): fp16 on CUDA by default, fp32 on CPU."""

    def __init__(self, model_dir: Path | str, head: str, device: str = "cuda",
                 dim: int | None = None, pooling: str = "mean"):
        import torch
        from graphs import EmbeddingGraph, ScoreGraph
        from transformers import AutoModel, AutoModelForSequenceClassification

        self.torch = torch
        self.device = torch.device(device)
        dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        if head == "embedding":
            backbone = AutoModel.from_pretrained(model_dir, dtype=dtype, attn_implementation="sdpa")
            graph = EmbeddingGraph(backbone, pooling, dim)
            self.input_names = ["input_ids", "attention_mask"]
        elif head == "score":
            classifier = AutoModelForSequenceClassification.from_pretrained(
                model_dir, dtype=dtype, attn_implementation="sdpa")
            graph = ScoreGraph(classifier)
            self.input_names = ["input_ids", "attention_mask", "token_type_ids"]
        else:
            raise ValueError(f"head must be 'embedding' or 'score', got {head!r}")
        self.graph = graph.to(self.device).eval()

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            feed = [torch.from_numpy(inputs[n].astype(np.int64, copy=False)).to(
                self.device, non_blocking=True) for n in self.input_names]
            return self.graph(*feed).float().cpu().numpy()
