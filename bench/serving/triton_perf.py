"""Load-test a served model repository with ``perf_analyzer`` (``make perf``).

perf_analyzer comes from ``tritonclient[all]==2.50.0`` in its own environment (``make
perf-env``; it pins numpy<2 / protobuf<5, which the project's environment cannot hold). The
input data are real ESCI item texts: strings for ``embed_text``, and the same texts tokenized to
a fixed length for ``encoder`` alone. Each (model, batch, concurrency) point gives throughput
(inferences, i.e. sequences, per second) and p50/p95/p99 latency, merged into
``<out>/serving.json`` under ``<hardware>.<model>`` and rendered to ``serving.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from components.contracts import write_text_atomic
from serving.triton.server import TritonServer

DEFAULT_CONCURRENCY = (1, 2, 4, 8)


@dataclass(frozen=True)
class PerfPoint:
    concurrency: int
    batch: int
    infer_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def _first_items(n: int) -> list:
    from components.data import load_items
    return sorted(load_items().values(), key=lambda i: i.item_id)[:n]


def item_texts(n: int) -> list[str]:
    return [item.text() for item in _first_items(n)]


def item_titles(n: int) -> list[str]:
    """The titles alone of the items :func:`item_texts` gives (a short-text workload: these
    titles are ~22 tokens on average, the full item texts ~44)."""
    return [item.title for item in _first_items(n)]


def write_text_data(path: Path, texts: list[str]) -> Path:
    path.write_text(json.dumps({"data": [{"TEXT": [t]} for t in texts]}))
    return path


def write_token_data(path: Path, tokens: dict, seq_len: int) -> Path:
    rows = []
    for ids, mask in zip(tokens["input_ids"], tokens["attention_mask"], strict=True):
        rows.append({"input_ids": {"content": ids[:seq_len].tolist(), "shape": [seq_len]},
                     "attention_mask": {"content": mask[:seq_len].tolist(), "shape": [seq_len]}})
    path.write_text(json.dumps({"data": rows}))
    return path


def tokenize_fixed(texts: list[str], tokenizer_dir: Path, seq_len: int) -> dict:
    """Token ids of ``texts``, truncated and padded to exactly ``seq_len``."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=seq_len)
    tok.enable_padding(length=seq_len, pad_id=tok.token_to_id("[PAD]") or 0)
    import numpy as np
    encodings = tok.encode_batch(texts)
    return {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64)}


def perf_environment(perf_analyzer: Path, extra_libs: list[Path]) -> dict[str, str]:
    env = dict(os.environ)
    libs = [str(p) for p in extra_libs if p.is_dir()]
    env["LD_LIBRARY_PATH"] = ":".join(libs + [p for p in env.get("LD_LIBRARY_PATH", "").split(":")
                                             if p])
    return env


def cuda_runtime_libs(perf_venv: Path) -> list[Path]:
    return sorted(perf_venv.glob("lib/python3*/site-packages/nvidia/cuda_runtime/lib"))


def run_point(perf_analyzer: Path, env: dict, url: str, model: str, data: Path, batch: int,
              concurrency: int, interval_ms: int, workdir: Path,
              stability_pct: int = 50) -> PerfPoint:
    report = workdir / f"{model}-b{batch}-c{concurrency}.csv"
    cmd = [str(perf_analyzer), "-m", model, "-u", url, "-i", "grpc", "--input-data", str(data),
           "-b", str(batch), "--concurrency-range", f"{concurrency}:{concurrency}",
           "--measurement-interval", str(interval_ms), "--max-trials", "6",
           "--stability-percentage", str(stability_pct), "-f", str(report)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    unstable = "stable measurement" in result.stdout + result.stderr
    if result.returncode != 0 and unstable and stability_pct < 100:
        print(f"{model} b{batch} c{concurrency}: unstable at {stability_pct}%, retrying with "
              f"twice the window and no stability bound", flush=True)
        return run_point(perf_analyzer, env, url, model, data, batch, concurrency,
                         2 * interval_ms, workdir, stability_pct=100)
    if result.returncode != 0:
        raise RuntimeError(f"perf_analyzer failed ({result.returncode}): {shlex.join(cmd)}\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return parse_report(report, concurrency, batch)


def parse_report(report: Path, concurrency: int, batch: int) -> PerfPoint:
    with open(report, newline="") as fh:
        row = next(csv.DictReader(fh))
    return PerfPoint(concurrency=concurrency, batch=batch,
                     infer_per_s=round(float(row["Inferences/Second"]), 1),
                     p50_ms=round(float(row["p50 latency"]) / 1000, 3),
                     p95_ms=round(float(row["p95 latency"]) / 1000, 3),
                     p99_ms=round(float(row["p99 latency"]) / 1000, 3))


def token_data(texts: list[str], tokenizer_dir: Path, workdir: Path, seq_len: int) -> dict:
    """perf_analyzer input files: the texts for ``embed_text``, their ids for ``encoder``."""
    return {"embed_text": write_text_data(workdir / "texts.json", texts),
            "encoder": write_token_data(workdir / "tokens.json",
                                        tokenize_fixed(texts, tokenizer_dir, seq_len), seq_len)}


def sweep(perf_analyzer: Path, env: dict, url: str, models: list[str], data: dict,
          batches: list[int], concurrency: list[int], interval_ms: int, workdir: Path,
          stability_pct: int = 50, label: str = "") -> tuple[dict, list[str]]:
    """Every (model, batch, concurrency) point against a running server at ``url``.
    Returns ``({model: [point, ...]}, skipped)``; a point without a stable measurement is
    skipped (named in ``skipped``), not fatal."""
    section: dict[str, list[dict]] = {}
    skipped: list[str] = []
    for model in models:
        points = []
        for batch in batches:
            for c in concurrency:
                try:
                    point = run_point(perf_analyzer, env, url, model, data[model], batch, c,
                                      interval_ms, workdir, stability_pct)
                except (RuntimeError, subprocess.TimeoutExpired) as err:
                    print(f"SKIPPED {label}.{model} b{batch} c{c}: {str(err)[-600:]}",
                          file=sys.stderr, flush=True)
                    skipped.append(f"{model} batch {batch} concurrency {c}: "
                                   "no stable measurement")
                    continue
                print(f"{label}.{model} {point}", flush=True)
                points.append(asdict(point))
        section[model] = points
    return section, skipped


def merge_results(out_dir: Path, hardware: str, section: dict) -> dict:
    path = out_dir / "serving.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    previous = results.get(hardware, {})
    merged = {**previous, **section}
    if "skipped" in previous and "skipped" in section:
        merged["skipped"] = previous["skipped"] + section["skipped"]
    results[hardware] = merged
    write_text_atomic(path, json.dumps(results, indent=2) + "\n")
    write_text_atomic(out_dir / "serving.md", render_markdown(results))
    return results


def _input(point: dict, model: str) -> str:
    """What a row was measured on: the token length or text kind where the row says, else the
    section's input (item texts for ``embed_text``, their ids for ``encoder``)."""
    if "seq_len" in point:
        return f"ids, {point['seq_len']} tokens"
    if "input" in point:
        tokens = f", ~{point['mean_tokens']:g} tokens" if "mean_tokens" in point else ""
        return f"{point['input']}{tokens}"
    return "item texts" if model == "embed_text" else "ids"


def render_markdown(results: dict) -> str:
    lines = ["# Serving throughput and latency (Triton, perf_analyzer)", "",
             "Generated by `bench/serving/triton_perf.py`; the numbers are in `serving.json`. "
             "infer/s counts sequences (a batch of b counts b).", ""]
    for hardware, section in results.items():
        lines += [f"## {hardware}", ""]
        for key in ("history", "hardware", "command", "server", "input", "notes"):
            if key in section:
                lines.append(f"- {key}: `{section[key]}`" if key == "command"
                             else f"- {key}: {section[key]}")
        lines.append("")
        for model in ("embed_text", "encoder"):
            if model not in section:
                continue
            lines += [f"### {hardware}.{model}", "",
                      "| input | concurrency | batch | infer/s | p50 ms | p95 ms | p99 ms |",
                      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
            lines += [f"| {_input(p, model)} | {p['concurrency']} | {p['batch']} | "
                      f"{p['infer_per_s']:.1f} | {p['p50_ms']:.2f} | {p['p95_ms']:.2f} | "
                      f"{p['p99_ms']:.2f} |" for p in section[model]]
            lines.append("")
        for extra in ("torch_direct", "comparison"):
            if extra in section:
                lines += [f"### {hardware}.{extra}", "", "```json",
                          json.dumps(section[extra], indent=1), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, required=True)
    parser.add_argument("--perf-venv", type=Path, default=Path(".venv/perf-tools"))
    parser.add_argument("--perf-analyzer", type=Path, default=None)
    parser.add_argument("--extra-lib", type=Path, action="append", default=[])
    parser.add_argument("--hardware", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--models", nargs="+", default=["embed_text", "encoder"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(DEFAULT_CONCURRENCY))
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--interval-ms", type=int, default=3000)
    parser.add_argument("--stability-pct", type=int, default=50,
                        help="perf_analyzer's allowed spread between windows (noisy shared CPUs)")
    parser.add_argument("--command", default=None, help="command recorded with the results")
    parser.add_argument("--notes", default=None)
    args = parser.parse_args(argv)

    perf_analyzer = args.perf_analyzer or args.perf_venv / "bin" / "perf_analyzer"
    if not perf_analyzer.is_file():
        sys.exit(f"{perf_analyzer} not found: run `make perf-env`")
    env = perf_environment(perf_analyzer, [*args.extra_lib, *cuda_runtime_libs(args.perf_venv)])
    texts = item_texts(args.texts)
    workdir = Path(tempfile.mkdtemp(prefix="kpdistill-perf-"))
    data = token_data(texts, args.model_repository / "tokenizer" / "1" / "tokenizer", workdir,
                      args.seq_len)
    section: dict = {"hardware": args.hardware,
                     "command": args.command or shlex.join(["python", "-m", "bench.serving.triton_perf",
                                                            *(argv or sys.argv[1:])]),
                     "input": f"{len(texts)} real ESCI item texts (title | brand | category); "
                              f"encoder alone: the same texts as token ids, length {args.seq_len}",
                     "date": time.strftime("%Y-%m-%d")}
    if args.notes:
        section["notes"] = args.notes
    with TritonServer(args.model_repository, log_file=workdir / "tritonserver.log") as server:
        points, skipped = sweep(perf_analyzer, env, server.grpc_url, args.models, data,
                                args.batch, args.concurrency, args.interval_ms, workdir,
                                args.stability_pct, args.hardware)
    section.update(points)
    if skipped:
        section["skipped"] = skipped
    results = merge_results(args.out, args.hardware, section)
    print(f"wrote {args.out / 'serving.json'} and {args.out / 'serving.md'}")
    return results


if __name__ == "__main__":
    main()
