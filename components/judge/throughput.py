"""Judge throughput: pairs/s, tokens per pair with and without prefix sharing, achieved FLOP/s.

``measure_throughput(judge, requests)`` times ``judge.judge(requests)`` on a ``LocalJudge``
(CUDA synchronised before and after) and reads the judge's ``counters``, which tally what
actually ran through the model.

How FLOPs are counted (model FLOPs of the useful work, not of padding):

    flops = 2 * N_body * real_tokens                      # every matmul of the layers
          + 2 * d_model * vocab * logit_rows               # the LM head, one row per sequence
          + 4 * n_layers * n_heads * head_dim * attended_keys   # QK^T and AV

``N_body`` is the parameter count without the input embedding and the LM head (an embedding
lookup is no matmul; the LM head runs on one position per sequence, ``logits_to_keep=1``).
``real_tokens`` are the non-padding tokens run (the rubric prefix is cached once per judge,
so after the warm-up it costs nothing; item parts count once per item group with
``item_prefix``). ``attended_keys`` sums, over those tokens, the real keys each attends
(its position + 1, cached prefix and item keys included): QK^T and AV cost 2 FLOPs per
multiply-add each. Padding tokens and masked keys are computed by the GPU too but not
counted; ``padded_tokens_per_pair`` shows that overhead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from components.judge.backend import JudgeRequest


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_shape(model) -> dict[str, int]:
    """Parameter counts and attention sizes the FLOP count needs."""
    config = model.config.get_text_config(decoder=True)
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    total = sum(p.numel() for p in model.parameters())  # a tied LM head counts once
    body = total - embed.numel() - (0 if head is embed else head.numel())
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return {"params": total, "body_params": body, "head_params": head.numel(),
            "layers": config.num_hidden_layers, "attn_width": heads * head_dim}


def flops(shape: dict[str, int], counters: dict[str, int]) -> int:
    """Model FLOPs of what ``counters`` tallied (see the module docstring)."""
    return (2 * shape["body_params"] * counters["tokens_real"]
            + 2 * shape["head_params"] * counters["logit_rows"]
            + 4 * shape["layers"] * shape["attn_width"] * counters["attended_keys"])


def measure_throughput(judge, requests: Sequence[JudgeRequest], repeats: int = 1,
                       warmup: bool = True) -> dict:
    """The figures of :func:`judge_and_measure` (the labels dropped)."""
    return judge_and_measure(judge, requests, repeats, warmup)[1]


def judge_and_measure(judge, requests: Sequence[JudgeRequest], repeats: int = 1,
                      warmup: bool = True) -> tuple[list, dict]:
    """The labels of the last run and the figures of timing ``repeats`` runs of ``judge.judge(requests)`` (a LocalJudge).

    ``warmup``: first judge one batch (builds the prefix cache, loads CUDA kernels) untimed.
    Returns pairs, seconds, pairs_per_s, tokens_per_pair (mean prompt tokens as if nothing
    were shared), computed_tokens_per_pair (non-padding tokens actually run, with the
    judge's prefix / item sharing), padded_tokens_per_pair (padding included),
    flops_per_pair, achieved_tflops, and the settings that shaped them.
    """
    requests = list(requests)
    if not requests or repeats < 1:
        raise ValueError("need at least one request and repeats >= 1")
    if warmup:
        judge.judge(requests[:judge.batch_size])
    _sync(judge.device)
    judge.reset_counters()
    start = time.perf_counter()
    for _ in range(repeats):
        labels = judge.judge(requests)
    _sync(judge.device)
    seconds = time.perf_counter() - start
    counters = dict(judge.counters)
    pairs = len(requests) * repeats
    shape = model_shape(judge.model)
    total_flops = flops(shape, counters)
    prefix = len(judge.prefix_ids)
    unshared = sum(prefix + len(judge.suffix_ids(r)) for r in requests) / len(requests)
    return labels, {
        "pairs": pairs,
        "distinct_items": len({r.item.item_id for r in requests}),
        "seconds": seconds,
        "pairs_per_s": pairs / seconds,
        "tokens_per_pair": unshared,
        "computed_tokens_per_pair": counters["tokens_real"] / pairs,
        "padded_tokens_per_pair": counters["tokens_run"] / pairs,
        "flops_per_pair": total_flops / pairs,
        "achieved_tflops": total_flops / seconds / 1e12,
        "tokens_per_s": counters["tokens_real"] / seconds,
        "forwards": counters["forwards"],
        "batch_size": judge.batch_size,
        "item_prefix": bool(getattr(judge, "item_prefix", False)),
        "prefix_cache": bool(judge.prefix_cache),
        "device": str(judge.device),
        "dtype": str(judge.dtype).removeprefix("torch."),
        "params": shape["params"],
        "body_params": shape["body_params"],
    }
