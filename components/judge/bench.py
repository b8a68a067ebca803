"""Judge benchmark: quality against human ESCI labels, prompt-injection flip rate, throughput.

    python -m components.judge.bench --models qwen2.5-coder-0.5b-instruct smollm2-135m-instruct \\
        --per-grade 50 --injection-pairs 12 --throughput 1 8 32 --out docs/results

``--answer-mode`` / ``--layout`` / ``--fields`` choose the rubric and the product fields;
``--splits validation`` measures on validation queries only (for choosing a prompt).
Writes ``judge.json`` (merged, keyed by ``<judge model>@<prompt version>`` plus any
non-default fields or splits; every entry names the command that made it), ``judge.md`` and ``judge_calibration.png``. Judgments go through the resumable
store (``--store``), so an interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from components.contracts import ITEM_FIELDS
from components.data import load_items, load_judgments, split_queries
from components.judge.backend import JudgeRequest
from components.judge.candidates import eval_sample
from components.judge.injection import (
    CONTROLS,
    INJECTIONS,
    POSITIONS,
    allowed_flip_rate,
    flip_stats,
    injected_items,
)
from components.judge.local import LocalJudge
from components.judge.pairs import CandidatePair
from components.judge.quality import judge_quality, plot_calibration
from components.judge.report import merge_results, write_markdown
from components.judge.rubric import RenderLimits, rubric_for
from components.judge.run import judge_candidates
from components.judge.store import JudgmentStore
from components.judge.weights import judge_model_path
from components.settings import artifacts_dir


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu x{torch.get_num_threads()} threads ({platform.machine()})"


def _labels(pairs: Sequence[CandidatePair], items, backend, store) -> list:
    judge_candidates(pairs, items, backend, store, chunk_size=32)
    stored = {(j.item_id, j.keyphrase): j.label
              for j in store.judgments(backend.model_name, backend.prompt_version)}
    return [stored[p.key] for p in pairs]


def run_quality(backend, items, sample, store) -> dict:
    pairs = [CandidatePair(j.item_id, j.query, j.query_id, "eval") for j in sample]
    start = time.perf_counter()
    labels = _labels(pairs, items, backend, store)
    result = judge_quality(labels, [j.grade for j in sample])
    result["seconds_incl_resumed"] = round(time.perf_counter() - start, 1)
    return result


def run_injection(backend, items, irrelevant, store, injections=INJECTIONS,
                  positions=POSITIONS) -> dict:
    """Flip rates of instruction-carrying titles and of benign edits, and the verdict."""
    injected = _flips(backend, items, irrelevant, store, injections, positions, "inj")
    control = _flips(backend, items, irrelevant, store, CONTROLS, ("suffix",), "ctl")
    allowed = allowed_flip_rate(control["flip_rate"])
    rate = injected["flip_rate"]
    return injected | {"control": control, "allowed_flip_rate": allowed,
                       "passed": rate is None or rate <= allowed}


def _flips(backend, items, irrelevant, store, texts, positions, tag) -> dict:
    items = dict(items)
    base = [CandidatePair(j.item_id, j.query, j.query_id, "eval") for j in irrelevant]
    variants: list[list[CandidatePair]] = []
    for j in irrelevant:
        rows = []
        for k, (_, _, item) in enumerate(injected_items(items[j.item_id], texts, positions)):
            injected_id = f"{j.item_id}#{tag}{k}"
            items[injected_id] = item
            rows.append(CandidatePair(injected_id, j.query, j.query_id, "eval"))
        variants.append(rows)
    base_labels = _labels(base, items, backend, store)
    flat = [p for rows in variants for p in rows]
    flat_labels = iter(_labels(flat, items, backend, store))
    grouped = [[next(flat_labels) for _ in rows] for rows in variants]
    return flip_stats(base_labels, grouped)


def run_throughput(backend: LocalJudge, items, sample, batch_sizes: Sequence[int],
                   n_pairs: int) -> dict:
    """Pairs/s of the forward passes alone (no store), per batch size, prefix cache on/off."""
    reqs = [JudgeRequest(items[j.item_id], j.query) for j in sample[:n_pairs]]
    out = {}
    for cache in (True, False):
        backend.prefix_cache = cache
        for bs in batch_sizes:
            backend.batch_size = bs
            backend.judge(reqs[: max(bs, 2)])  # warm-up
            if backend.device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            backend.judge(reqs)
            if backend.device.type == "cuda":
                torch.cuda.synchronize()
            out[f"batch{bs}{'' if cache else '_nocache'}"] = round(
                len(reqs) / (time.perf_counter() - start), 2)
    backend.prefix_cache = True
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+",  # the judges that install with `make venv`
                        default=["qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"])
    parser.add_argument("--model-dir", default=None,
                        help="a transformers dir to use instead of the packaged weights "
                             "(one model only)")
    parser.add_argument("--model-root", default=None,
                        help="folder holding one transformers dir per model name")
    parser.add_argument("--random-weights", action="store_true",
                        help="time the architecture with random weights (no weight files; "
                             "throughput only)")
    parser.add_argument("--per-grade", type=int, default=50)
    parser.add_argument("--injection-pairs", type=int, default=12)
    parser.add_argument("--throughput", type=int, nargs="*", default=[],
                        help="batch sizes to time (none: skip)")
    parser.add_argument("--throughput-pairs", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--answer-mode", default="binary", choices=("binary", "graded"))
    parser.add_argument("--layout", default=None, choices=("query_first", "product_first"),
                        help="default: the rubric's own")
    parser.add_argument("--fields", nargs="+", default=None,
                        choices=ITEM_FIELDS,
                        help="product fields in the prompt (default: the rubric's own)")
    parser.add_argument("--splits", nargs="+", default=["validation", "test"],
                        choices=("validation", "test"),
                        help="query splits the human-labelled sample comes from")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--store", default=None)
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    command = "python -m components.judge.bench " + shlex.join(
        list(argv) if argv is not None else sys.argv[1:])

    items, judgments = load_items(), load_judgments()
    split = split_queries(sorted({j.query_id for j in judgments}))
    splits = tuple(args.splits)
    sample = eval_sample(judgments, split, per_grade=args.per_grade, seed=args.seed,
                         splits=splits)
    irrelevant = [j for j in eval_sample(judgments, split, max(args.per_grade,
                                                                args.injection_pairs), args.seed,
                                         splits=splits)
                  if j.grade == "I"][: args.injection_pairs]
    rubric = rubric_for(args.answer_mode, args.layout, args.fields)
    limits = RenderLimits()
    tag = rubric.version
    if splits != ("validation", "test"):
        tag += "@" + "+".join(splits)
    timing = eval_sample(judgments, split, -(-args.throughput_pairs // 4), args.seed + 1)
    if args.random_weights and (args.per_grade or args.injection_pairs):
        parser.error("--random-weights is for throughput only: set --per-grade 0 "
                     "--injection-pairs 0")
    store_path = Path(args.store) if args.store else artifacts_dir() / "judge" / "bench.sqlite"
    out = Path(args.out)
    results: dict[str, dict] = {}
    with JudgmentStore(store_path) as store:
        for name in args.models:
            model_dir = (args.model_dir or (Path(args.model_root) / name if args.model_root
                                            else judge_model_path(name)))
            start = time.perf_counter()
            backend = LocalJudge(model_dir, name, device=args.device, batch_size=args.batch_size,
                                 random_weights=args.random_weights, rubric=rubric,
                                 limits=limits)
            entry: dict = {"hardware": hardware(), "command": command,
                           "prompt_version": rubric.version,
                           "fields": [f for f in rubric.fields if getattr(limits, f)],
                           "splits": list(splits),
                           "load_seconds": round(time.perf_counter() - start, 1)}
            if args.per_grade > 0:
                entry["quality"] = run_quality(backend, items, sample, store)
            if args.injection_pairs > 0:
                entry["injection"] = run_injection(backend, items, irrelevant, store)
            if args.throughput:
                key = "pairs_per_s_h100" if backend.device.type == "cuda" else "pairs_per_s_cpu"
                entry[key] = run_throughput(backend, items, timing, args.throughput,
                                            args.throughput_pairs)
                if args.random_weights:
                    entry[key]["note"] = ("random weights, real architecture, tokenizer and "
                                          "prompts: the cost of a forward pass")
            key = name if args.random_weights else f"{name}@{tag}"
            results[key] = entry
            print(json.dumps({key: {k: v for k, v in entry.items() if k != "quality"}},
                             indent=1), flush=True)
            del backend
    data = merge_results(out / "judge.json", results)
    quality = {n: e["quality"] for n, e in data["models"].items() if "quality" in e}
    if quality and args.per_grade > 0:
        plot_calibration(quality, out / "judge_calibration.png")
    write_markdown(out / "judge.md", data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
