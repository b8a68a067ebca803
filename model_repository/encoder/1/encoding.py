"""Pure logic of the ``encoder`` / ``cross_encoder`` Python-backend models: merge the requests
of a batch into one padded tensor set, run one forward pass, split the result back.

Two runners: ONNX Runtime on the exported ``model.onnx`` (CPU), and torch on the traced
TorchScript ``model.pt`` (fp16 on CUDA; torch alone, no transformers). No Triton import.
Calling a runner gives its first output (``embedding`` or ``score``); ``outputs`` gives every
output by name (the cross-encoder's ``dimensions`` beside its ``score``).
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


def length_groups(lengths: Sequence[int], max_padding_share: float) -> list[np.ndarray]:
    """Row indices, each group run as one padded batch: rows sorted by length, and a group grows
    while padding it to its longest row adds at most ``max_padding_share`` of its real tokens.

    On a CPU a padded token costs what a real one does: titles of 10 and 60 tokens merged into
    one batch pay 50 tokens of padding. Rows of equal length (keyphrases) stay in one group.
    """
    lengths = np.asarray(lengths)
    groups: list[list[int]] = []
    real = 0
    for i in np.argsort(lengths, kind="stable"):
        n = int(lengths[i])
        if groups and (len(groups[-1]) + 1) * n - (real + n) <= max_padding_share * (real + n):
            groups[-1].append(int(i))
            real += n
        else:
            groups.append([int(i)])
            real = n
    return [np.array(g) for g in groups]


def split_output(output: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    bounds = np.cumsum([0, *sizes])
    return [output[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class OnnxRunner:
    """ONNX Runtime session over an exported model, CPU execution provider.

    ``max_padding_share``: None runs the batch as given (padded to its longest row); a share
    runs it in :func:`length_groups`, each cut to its own longest row (same outputs, fewer
    padded tokens computed)."""

    def __init__(self, model_path: Path | str, intra_op_threads: int = 0,
                 max_padding_share: float | None = None):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.output_name = self.output_names[0]
        self.max_padding_share = max_padding_share

    def _run(self, feed: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
        return [out.astype(np.float32, copy=False) for out in self.session.run(names, feed)]

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self.outputs(inputs, [self.output_name])[self.output_name]

    def outputs(self, inputs: dict[str, np.ndarray],
                names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The outputs ``names`` (default: all) of one forward pass, float32; in length
        groups when ``max_padding_share`` is set (the same values, fewer padded tokens)."""
        names = list(names or self.output_names)
        feed = {name: inputs[name].astype(np.int64, copy=False) for name in self.input_names}
        mask = feed.get("attention_mask")
        grouped = self.max_padding_share is not None and mask is not None and len(mask) >= 2
        groups = length_groups(mask.sum(axis=1), self.max_padding_share) if grouped else []
        if not grouped or (len(groups) == 1 and mask.sum(axis=1).max() == mask.shape[1]):
            return dict(zip(names, self._run(feed, names), strict=True))
        lengths = mask.sum(axis=1)
        out: dict[str, np.ndarray] = {}
        for rows in groups:
            width = max(int(lengths[rows].max()), 1)
            parts = self._run({name: t[rows, :width] for name, t in feed.items()}, names)
            for name, part in zip(names, parts, strict=True):
                if name not in out:
                    out[name] = np.empty((len(mask), *part.shape[1:]), dtype=np.float32)
                out[name][rows] = part
        return out


class TorchRunner:
    """The traced TorchScript graph (``model.pt``, fp16 when traced on CUDA). Needs torch only."""

    def __init__(self, model_path: Path | str, input_names: Sequence[str], device: str = "cuda"):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        # Traced on the device it serves on (fp16 on CUDA): the trace holds its own dtype.
        self.graph = torch.jit.load(str(model_path), map_location=self.device).eval()
        self.input_names = list(input_names)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self._forward(inputs)[0]

    def outputs(self, inputs: dict[str, np.ndarray],
                names: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's outputs (a traced graph returns them in export order) under ``names``."""
        return dict(zip(names, self._forward(inputs), strict=True))

    def _forward(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            feed = [torch.from_numpy(inputs[n].astype(np.int64, copy=False)).to(self.device)
                    for n in self.input_names]
            out = self.graph(*feed)
            out = out if isinstance(out, tuple | list) else (out,)
            return [t.float().cpu().numpy() for t in out]
