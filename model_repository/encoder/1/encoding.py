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


DEFAULT_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def bucket(n: int, buckets: Sequence[int]) -> int | None:
    """The smallest of ``buckets`` that holds ``n`` rows (None: more than the largest)."""
    return next((b for b in sorted(buckets) if b >= n), None)


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def trim_padding(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cut the columns after the last one any row attends to (right padding only): a batch
    padded to 128 whose longest row has 20 tokens runs at 20. No-op without attention_mask."""
    mask = feed.get("attention_mask")
    if mask is None or mask.shape[1] == 0:
        return feed
    used = np.flatnonzero(mask.any(axis=0))
    width = int(used[-1]) + 1 if len(used) else 1
    if width == mask.shape[1]:
        return feed
    return {name: t[:, :width] for name, t in feed.items()}


def pad_to(feed: dict[str, np.ndarray], rows: int, width: int) -> dict[str, np.ndarray]:
    """Every tensor right-padded with 0 to ``[rows, width]``; the added rows attend to their
    first token, so no row is fully masked (their outputs are thrown away)."""
    out = {}
    for name, t in feed.items():
        padded = np.zeros((rows, width), dtype=np.int64)
        padded[:t.shape[0], :t.shape[1]] = t
        if name == "attention_mask":
            padded[t.shape[0]:, 0] = 1
        out[name] = padded
    return out


class TorchRunner:
    """The traced TorchScript graph (``model.pt``, fp16 when traced on CUDA). Needs torch only.

    Every batch is first cut to its longest attended row (:func:`trim_padding`). With
    ``cuda_graphs`` (CUDA only) a batch is padded up to a shape bucket — rows to the next of
    ``batch_buckets``, columns to a multiple of ``seq_multiple`` — and replayed from a CUDA
    graph captured on that shape's first use (at most ``max_graphs`` shapes; all share one
    memory pool): one launch instead of a kernel launch per op. Shapes past the buckets or the
    cap run eagerly; a capture that fails turns graphs off for the runner and says why
    (``graph_error``), and every batch runs eagerly from then on.
    """

    def __init__(self, model_path: Path | str, input_names: Sequence[str], device: str = "cuda",
                 cuda_graphs: bool = False, batch_buckets: Sequence[int] = DEFAULT_BATCH_BUCKETS,
                 seq_multiple: int = 16, max_graphs: int = 48):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        # Traced on the device it serves on (fp16 on CUDA): the trace holds its own dtype.
        self.graph = torch.jit.load(str(model_path), map_location=self.device).eval()
        self.input_names = list(input_names)
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self.batch_buckets = tuple(sorted(batch_buckets))
        self.seq_multiple = seq_multiple
        self.max_graphs = max_graphs
        self.graph_error = ""
        self._graphs: dict[tuple[int, int], tuple] = {}
        self._pool = None

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self._forward(inputs)[0]

    def outputs(self, inputs: dict[str, np.ndarray],
                names: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's outputs (a traced graph returns them in export order) under ``names``."""
        return dict(zip(names, self._forward(inputs), strict=True))

    @property
    def captured_shapes(self) -> list[tuple[int, int]]:
        return sorted(self._graphs)

    def _forward(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self.torch
        feed = trim_padding({n: inputs[n].astype(np.int64, copy=False)
                             for n in self.input_names})
        rows, width = feed[self.input_names[0]].shape
        with torch.inference_mode():
            if self.cuda_graphs:
                rows_b = bucket(rows, self.batch_buckets)
                key = (rows_b, round_up(width, self.seq_multiple))
                if rows_b is not None and (key in self._graphs
                                           or len(self._graphs) < self.max_graphs):
                    entry = self._graphs.get(key) or self._capture(key)
                    if entry is not None:
                        return self._replay(entry, pad_to(feed, *key), rows)
            out = self.graph(*[torch.from_numpy(feed[n]).to(self.device)
                               for n in self.input_names])
            out = out if isinstance(out, tuple | list) else (out,)
            return [t.float().cpu().numpy() for t in out]

    def _replay(self, entry: tuple, feed: dict[str, np.ndarray], rows: int) -> list[np.ndarray]:
        graph, static_in, static_out = entry
        for tensor, name in zip(static_in, self.input_names, strict=True):
            tensor.copy_(self.torch.from_numpy(feed[name]))
        graph.replay()
        return [t[:rows].float().cpu().numpy() for t in static_out]

    def _capture(self, key: tuple[int, int]) -> tuple | None:
        torch = self.torch
        try:
            static_in = [torch.zeros(key, dtype=torch.long, device=self.device)
                         for _ in self.input_names]
            if "attention_mask" in self.input_names:
                static_in[self.input_names.index("attention_mask")].fill_(1)
            side = torch.cuda.Stream(self.device)  # warm-up off the capture stream (the JIT
            side.wait_stream(torch.cuda.current_stream(self.device))  # specialises here)
            with torch.cuda.stream(side):
                for _ in range(3):
                    self.graph(*static_in)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool):
                out = self.graph(*static_in)
            self._pool = graph.pool()
        except Exception as err:  # noqa: BLE001 - any capture failure: serve eagerly
            self.cuda_graphs = False
            self.graph_error = f"CUDA graph capture at {key} failed, eager from now on: {err}"
            print(self.graph_error, flush=True)
            return None
        entry = (graph, static_in, list(out) if isinstance(out, tuple | list) else [out])
        self._graphs[key] = entry
        return entry
