"""The CPU default against its bound, in one run -> docs/results/gateway.{json,md} (``cpu.*``).

    python -m bench.serving.cpu_bound [--model-repository DIR] [--duration 5] --out docs/results
    python -m bench.serving.cpu_bound --levers --out docs/results     # + each lever's cost

1. The direct bound: the repository's own tokenizer (its token cap) and ONNX Runtime on its own
   ``model.onnx``, called in this process with the threads the served encoder has (instances x
   intra-op threads; 0 = every core), on the texts the gateway builds from 200 real test-split
   items. Titles/s at batch 1 and at larger batches; the bound is the best of them.
2. The gateway: Triton on that repository + the gateway, Recommend (k = 10, no re-rank) over a
   concurrency sweep; its best QPS over the direct bound is the ratio.
3. The direct bound again, so the ratio can be read against how much the machine's load moved.

``--tokenize gateway,triton`` measures each embedding path of the gateway that way, one after
the other (``KPDISTILL_GATEWAY_TOKENIZE``: the gateway tokenizes and calls ``encoder`` on ids,
or sends texts to ``embed_text``); ``cpu.*`` are the default path's figures.

With ``--levers``: each lever's speed (direct titles/s) and its quality cost, nDCG@10 of the
30 test queries (seed-13 split, human ESCI labels) with the item side embedded as that lever
serves it and the keyphrases as the index holds them (fp32, full length): int8 dynamic
quantization, shorter token caps, threads per instance vs instances (through the gateway), and
the gateway's exact in-process search vs Milvus Lite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.serving.cpu_time import cpu_seconds, load_text
from bench.serving.fixtures import item_message, served_setup
from bench.serving.loadtest import CPU_END, CPU_START, load_level
from components.contracts import ITEM_FIELDS, item_text
from components.settings import artifacts_dir

log = logging.getLogger(__name__)

BATCHES = (1, 8, 32)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set(re.findall(r"^flags\s*:\s*(.*)$", text, re.M)[0].split()) if "flags" in text else set()
    return sorted(flags & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"})


def served_texts(items) -> list[str]:
    """The text the gateway embeds for each item (its request, then ``item_text``)."""
    return [item_text(item_message(i), ITEM_FIELDS) for i in items]


# --- the served encoder, read from a repository --------------------------------------------
def _param(config_text: str, key: str) -> str | None:
    pattern = 'key:\\s*"' + re.escape(key) + r'"\s*value:\s*\{\s*string_value:\s*"([^"]*)"'
    m = re.search(pattern, config_text)
    return m.group(1) if m else None


def repository_encoder(repository: Path) -> dict:
    """What the served ``embed_text`` runs: the tokenizer's cap and files, the encoder's ONNX
    file, instances and intra-op threads (from the rendered ``config.pbtxt`` files)."""
    repository = Path(repository)
    tok_cfg = (repository / "tokenizer" / "config.pbtxt").read_text()
    enc_cfg = (repository / "encoder" / "config.pbtxt").read_text()
    version = max((p for p in (repository / "encoder").iterdir() if p.name.isdigit()),
                  key=lambda p: int(p.name))
    tok_version = max((p for p in (repository / "tokenizer").iterdir() if p.name.isdigit()),
                      key=lambda p: int(p.name))
    onnx_path = version / "model.onnx"
    if _param(enc_cfg, "runtime") != "onnx" or not onnx_path.is_file():
        raise ValueError(f"{repository}: the encoder is not the python-onnx target; the CPU "
                         "bound is measured for that target only")
    instances = int(re.search(r"instance_group\s*\[\s*\{\s*count:\s*(\d+)", enc_cfg).group(1))
    parity = json.loads((version / "parity.json").read_text()) \
        if (version / "parity.json").is_file() else {}
    return {"tokenizer_dir": tok_version / "tokenizer",
            "max_length": int(_param(tok_cfg, "max_length") or 128),
            "onnx": onnx_path, "instances": instances,
            "intra_op_threads": int(_param(enc_cfg, "intra_op_threads") or 0),
            "max_padding_share": _param(enc_cfg, "max_padding_share"),
            "precision": parity.get("precision", "fp32")}


def server_threads(encoder: dict) -> int:
    """Threads the served encoder computes with, all instances together (intra-op threads 0
    means every core, for each instance; more than the cores do not run at once)."""
    cores = os.cpu_count() or 1
    per_instance = encoder["intra_op_threads"] or cores
    return min(encoder["instances"] * per_instance, cores)


class DirectEncoder:
    """Tokenizer + ONNX Runtime in this process: the served path without any server."""

    def __init__(self, tokenizer_dir: Path, onnx_path: Path, max_length: int, threads: int):
        from components.export.templates import encoding_module, tokenization_module

        self.tokenizer = tokenization_module().BatchTokenizer(tokenizer_dir, max_length)
        self.runner = encoding_module().OnnxRunner(onnx_path, threads)

    def encode(self, texts: Sequence[str], batch: int = 32) -> np.ndarray:
        """Embeddings of ``texts`` (sorted by length into batches, so padding stays short)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            vectors = self.runner(self.tokenizer.encode([texts[i] for i in rows]))
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out


def direct_rate(encoder: DirectEncoder, texts: Sequence[str], batch: int,
                seconds: float) -> float:
    """Titles/s of tokenizing + embedding ``texts`` ``batch`` at a time for ``seconds``."""
    encoder.encode(texts[:batch], batch)  # warm
    done, i = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        chunk = [texts[(i + j) % len(texts)] for j in range(batch)]
        encoder.runner(encoder.tokenizer.encode(chunk))
        done += batch
        i += batch
    return done / (time.perf_counter() - started)


def _direct_worker(args: tuple) -> dict[str, float]:
    tokenizer_dir, onnx_path, max_length, threads, texts, batches, seconds, start = args
    encoder = DirectEncoder(tokenizer_dir, onnx_path, max_length, threads)
    encoder.encode(texts[:8])  # warm before the common start
    time.sleep(max(0.0, start - time.time()))
    out = {}
    for b in batches:
        cpu0, t0 = time.process_time(), time.perf_counter()
        rate = direct_rate(encoder, texts, b, seconds)
        titles = rate * (time.perf_counter() - t0)
        out[str(b)] = (rate, (time.process_time() - cpu0) * 1000 / max(titles, 1))
    return out


def direct_bound(encoder: dict, texts: Sequence[str], seconds: float,
                 batches: Sequence[int] = BATCHES) -> dict:
    """Titles/s of the served encoder called directly, parallel like the server: one process
    per encoder instance, each with the instance's intra-op threads, all at once (rates
    summed). The bound is the best batch size."""
    import multiprocessing

    instances = min(encoder["instances"], os.cpu_count() or 1)
    threads = encoder["intra_op_threads"] or (os.cpu_count() or 1)
    start = time.time() + 8.0  # every worker loaded and warm
    job = (encoder["tokenizer_dir"], encoder["onnx"], encoder["max_length"], threads,
           list(texts), tuple(batches), seconds, start)
    with multiprocessing.get_context("spawn").Pool(instances) as pool:
        results = pool.map(_direct_worker, [job] * instances)
    rows = {str(b): round(sum(r[str(b)][0] for r in results), 1) for b in batches}
    cpu = {str(b): round(float(np.mean([r[str(b)][1] for r in results])), 1) for b in batches}
    return {"titles_per_s_by_batch": rows, "titles_per_s": max(rows.values()),
            "processes": instances, "threads_per_process": threads,
            "cpu_ms_per_title_by_batch": cpu, "load_average": load_text()}


# --- quality of a served variant ------------------------------------------------------------
class _PairScorer:
    def __init__(self, encode_keyphrases: Callable, encode_items: Callable):
        self.encode_keyphrases, self.encode_items = encode_keyphrases, encode_items

    def score_pairs(self, keyphrases, item_texts) -> np.ndarray:
        def unique_encode(encode, texts):
            order = sorted(set(texts))
            vectors = encode(order)
            index = {t: i for i, t in enumerate(order)}
            return vectors[[index[t] for t in texts]]
        a = unique_encode(self.encode_keyphrases, list(keyphrases))
        b = unique_encode(self.encode_items, list(item_texts))
        return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_ndcg(encode_keyphrases: Callable, encode_items: Callable) -> float:
    """nDCG@10 of the 30 test queries (seed-13 split): each query's judged items ranked by the
    cosine of the keyphrase's and the item's embeddings."""
    from components.baselines.evaluate import query_side
    from components.data import load_items, load_judgments, split_queries

    judgments = load_judgments()
    test = set(split_queries(sorted({j.query_id for j in judgments})).queries("test"))
    chosen = [j for j in judgments if j.query_id in test]
    result = query_side(_PairScorer(encode_keyphrases, encode_items), load_items(), chosen,
                        ITEM_FIELDS)
    return round(float(result["macro"]["ndcg@10"]), 4)


# --- the gateway over a concurrency sweep ---------------------------------------------------
def gateway_sweep(stack, requests, levels: Sequence[int], seconds: float) -> list[dict]:
    """Recommend (k = 10) at each concurrency; CPU ms per call of the gateway and of Triton."""
    rows = []
    for c in levels:
        pids = {"gateway": stack.gateway.process.pid, "triton": stack.triton.process.pid}
        before = {k: cpu_seconds(p) for k, p in pids.items()}
        row = asyncio.run(load_level(stack.target, requests, c, seconds))
        calls = max(row["requests"], 1)
        row["cpu_ms_per_call"] = {k: round((cpu_seconds(p) - before[k]) * 1000 / calls, 1)
                                  for k, p in pids.items()}
        row["load_average"] = load_text()
        rows.append(row)
        print(f"  concurrency {c:3d}: {row['qps']:6.1f} QPS  p50 {row['p50_ms']:7.1f} ms  "
              f"p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}  "
              f"embed {row['stage_mean_ms']['embed']} ms  search "
              f"{row['stage_mean_ms']['search']} ms  cpu/call {row['cpu_ms_per_call']}  "
              f"load {row['load_average']}", flush=True)
    return rows


def default_tokenize() -> str:
    from serving.gateway.settings import GatewaySettings

    return GatewaySettings.model_fields["tokenize"].default


def measure(repository: Path, index_uri: str, texts: list[str], requests, levels: Sequence[int],
            seconds: float, direct_seconds: float, search_backend: str, log_dir: Path,
            tokenize: str | None = None) -> dict:
    """Direct bound, gateway sweep, direct bound again: one variant, one run."""
    from serving.gateway.stack import ServingStack

    encoder = repository_encoder(repository)
    threads = server_threads(encoder)
    before = direct_bound(encoder, texts, direct_seconds)
    print(f"  direct (tokenizer + ONNX Runtime, {before['processes']} process(es) x "
          f"{before['threads_per_process']} thread(s)): {before['titles_per_s_by_batch']} "
          f"titles/s by batch; load {before['load_average']}", flush=True)
    tokenize = tokenize or default_tokenize()
    with ServingStack(repository, index_uri, log_dir=log_dir, search_backend=search_backend,
                      tokenize=tokenize) as stack:
        sweep = gateway_sweep(stack, requests, levels, seconds)
    after = direct_bound(encoder, texts, direct_seconds)
    print(f"  direct again: {after['titles_per_s_by_batch']} titles/s by batch; "
          f"load {after['load_average']}", flush=True)
    bound = round((before["titles_per_s"] + after["titles_per_s"]) / 2, 1)
    best = max(sweep, key=lambda r: r["qps"])
    # CPU time is what the other jobs on a shared machine do not take away: the direct path's
    # CPU per title (batch 1, mean of both runs) over the stack's per call at the best level
    direct_cpu = round((before["cpu_ms_per_title_by_batch"]["1"]
                        + after["cpu_ms_per_title_by_batch"]["1"]) / 2, 1)
    stack_cpu = round(sum(best["cpu_ms_per_call"].values()), 1)
    return {
        "encoder": {"precision": encoder["precision"], "max_length": encoder["max_length"],
                    "instances": encoder["instances"],
                    "intra_op_threads": encoder["intra_op_threads"], "threads": threads,
                    "max_padding_share": encoder.get("max_padding_share")},
        "search_backend": search_backend, "tokenize": tokenize,
        "direct_before": before, "direct_after": after,
        "direct_titles_per_s": bound,
        "best_qps": best["qps"], "best_concurrency": best["concurrency"],
        "ratio_to_direct": round(best["qps"] / bound, 2) if bound else None,
        "direct_cpu_ms_per_title": direct_cpu, "stack_cpu_ms_per_call": stack_cpu,
        "cpu_cost_ratio": round(direct_cpu / stack_cpu, 2) if stack_cpu else None,
        "sweep": sweep,
    }


# --- levers ----------------------------------------------------------------------------------
def merged_batches_repository(base: Path, out: Path) -> Path:
    """A copy of ``base`` whose student encoder runs each batch Triton hands it as one padded
    batch (no ``max_padding_share``: the encoder before length grouping)."""
    import shutil

    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(base, out, symlinks=True)
    config = out / "encoder" / "config.pbtxt"
    config.write_text("".join(line for line in config.read_text().splitlines(keepends=True)
                              if '"max_padding_share"' not in line))
    return out


def variant_repository(base: Path, out: Path, onnx_path: Path, precision: str, max_length: int,
                       instances: int, threads: int) -> Path:
    """A copy of ``base`` serving ``onnx_path`` with the tokenizer's cap and the encoder's
    instances and threads changed (configs rendered by the export code itself)."""
    import shutil

    from components.export.config import ExportConfig
    from components.export.repository import encoder_config, tokenizer_config

    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(base, out, symlinks=True)
    dim = int(re.search(r'name: "embedding" data_type: TYPE_FP32 dims: \[ (\d+) \]',
                        (base / "encoder" / "config.pbtxt").read_text()).group(1))
    config = ExportConfig.from_yaml(max_seq_length=max_length, encoder_instances=instances,
                                    ort_threads=threads)
    (out / "encoder" / "config.pbtxt").write_text(
        encoder_config("encoder", "python-onnx", config, "embedding", dim=dim))
    (out / "tokenizer" / "config.pbtxt").write_text(tokenizer_config("tokenizer", config))
    version = out / "encoder" / "1"
    shutil.copy2(onnx_path, version / "model.onnx")
    parity = json.loads((version / "parity.json").read_text())
    (version / "parity.json").write_text(json.dumps({**parity, "precision": precision}))
    return out


def student_onnx_pair(student: Path, work: Path) -> dict[str, Path]:
    """The student's fp32 export and its int8 quantization (the export step's settings)."""
    from components.export import onnx_export, quantize
    from components.export.config import ExportConfig

    config = ExportConfig.from_yaml()
    fp32 = onnx_export.export_student(student, work / "student-fp32.onnx", config)
    int8 = quantize.quantize_int8(fp32, work / "student-int8.onnx",
                                  reduce_range=config.int8_reduce_range,
                                  per_channel=config.int8_per_channel)
    return {"fp32": fp32, "int8": int8}


def quality_levers(student: Path, onnx: dict[str, Path], caps: Sequence[int], texts: list[str],
                   threads: int, seconds: float) -> list[dict]:
    """nDCG@10 (test queries) and direct titles/s of each precision x token cap."""
    from components.export.graphs import backbone_dir

    tokenizer_dir = backbone_dir(student)
    index_side = DirectEncoder(tokenizer_dir, onnx["fp32"], 128, threads)
    rows = []
    for precision, path in onnx.items():
        for cap in caps:
            served = DirectEncoder(tokenizer_dir, path, cap, threads)
            row = {"precision": precision, "max_length": cap,
                   "ndcg@10": test_ndcg(index_side.encode, served.encode),
                   "ndcg@10_both_sides": test_ndcg(served.encode, served.encode),
                   "titles_per_s_batch1": round(direct_rate(served, texts, 1, seconds), 1),
                   "titles_per_s_batch8": round(direct_rate(served, texts, 8, seconds), 1),
                   "load_average": load_text()}
            rows.append(row)
            print(f"  {precision} cap {cap:3d}: nDCG@10 {row['ndcg@10']:.4f} (both sides "
                  f"{row['ndcg@10_both_sides']:.4f}), {row['titles_per_s_batch1']} titles/s at "
                  f"batch 1, {row['titles_per_s_batch8']} at 8; load {row['load_average']}",
                  flush=True)
    return rows


# --- output ----------------------------------------------------------------------------------
def hardware() -> str:
    flags = ", ".join(cpu_flags()) or "no AVX2"
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores ({cpu_model()}; {flags}), "
            f"no GPU; shared with other jobs (load average given with every figure)")


def _by_batch(rates: dict) -> str:
    return ", ".join(f"batch {b}: {v}" for b, v in rates.items())


def markdown(cpu: dict) -> str:
    d = cpu["default"]
    enc = d["encoder"]
    lines = ["## CPU: the gateway against the direct bound", "",
             f"Command: `{cpu['command']}`  ", f"Hardware: {cpu['hardware']}  ",
             f"Served: {enc['precision']} student, token cap {enc['max_length']}, "
             f"{enc['instances']} encoder instance(s) x {enc['intra_op_threads'] or 'all'} "
             f"intra-op threads, merged batches run in length groups (max padding share "
             f"{enc.get('max_padding_share') or 'none: unsplit'}), search "
             f"`{d['search_backend']}`, tokenized in the `{d.get('tokenize', 'triton')}`.", "",
             f"- direct bound (tokenizer + ONNX Runtime called in "
             f"{d['direct_before']['processes']} process(es) x "
             f"{d['direct_before']['threads_per_process']} thread(s), like the served encoder's "
             f"instances, best batch; mean of before and after the sweep): "
             f"**{cpu['direct_titles_per_s']} titles/s** (before the sweep "
             f"{_by_batch(d['direct_before']['titles_per_s_by_batch'])}, load "
             f"{d['direct_before']['load_average']}; after "
             f"{_by_batch(d['direct_after']['titles_per_s_by_batch'])}, load "
             f"{d['direct_after']['load_average']})",
             f"- gateway best: **{cpu['best_qps']} QPS** (Recommend, k = 10, no re-rank) at "
             f"concurrency {d['best_concurrency']} → ratio **{cpu['ratio_to_direct']}**",
             f"- CPU time (what the machine's other jobs do not take away): the direct path "
             f"spends {d.get('direct_cpu_ms_per_title')} ms of CPU per title (batch 1), the "
             f"stack {d.get('stack_cpu_ms_per_call')} ms per call at that level (gateway + "
             f"Triton and its backend processes) → CPU-cost ratio {d.get('cpu_cost_ratio')}",
             "",
             "| concurrency | QPS | p50 ms | p99 ms | errors | embed ms | search ms | "
             "gateway CPU ms/call | Triton CPU ms/call | load |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in d["sweep"]:
        lines.append(f"| {r['concurrency']} | {r['qps']} | {r['p50_ms']} | {r['p99_ms']} | "
                     f"{r['errors']} | {r['stage_mean_ms']['embed']} | "
                     f"{r['stage_mean_ms']['search']} | {r['cpu_ms_per_call']['gateway']} | "
                     f"{r['cpu_ms_per_call']['triton']} | {r['load_average']} |")
    if cpu.get("tokenize_paths"):
        lines += ["", "### The embedding paths (same run, one after the other)",
                  "", "`gateway`: the gateway tokenizes (Rust `tokenizers`, the served files and "
                  "cap) and calls `encoder` on token ids; `triton`: texts go to the `embed_text` "
                  "ensemble (Python-backend tokenizer, then `encoder`); \"merged batches\": "
                  "the encoder runs each batch Triton hands it padded to its longest row.", "",
                  "| path | direct titles/s | best QPS | at concurrency | ratio | "
                  "embed ms | gateway CPU ms/call | Triton CPU ms/call | CPU-cost ratio |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, v in cpu["tokenize_paths"].items():
            best = next(r for r in v["sweep"] if r["concurrency"] == v["best_concurrency"])
            lines.append(f"| {name} | {v['direct_titles_per_s']} | {v['best_qps']} | "
                         f"{v['best_concurrency']} | {v['ratio_to_direct']} | "
                         f"{best['stage_mean_ms']['embed']} | "
                         f"{best['cpu_ms_per_call']['gateway']} | "
                         f"{best['cpu_ms_per_call']['triton']} | {v.get('cpu_cost_ratio', '—')} |")
    if cpu.get("tokenize_ab"):
        ab = cpu["tokenize_ab"]
        lines += ["", "### The two tokenize paths side by side (one Triton, a gateway each, "
                  f"{ab['rounds']} rounds of {ab['seconds_per_burst']:g} s bursts at "
                  f"concurrency {ab['concurrency']}, alternating)", "",
                  "| tokenized in | mean QPS | gateway CPU ms/call | Triton CPU ms/call | "
                  "stack CPU ms/call | loads |", "|---|---:|---:|---:|---:|---|"]
        for path, v in ab["paths"].items():
            m = v["mean"]
            loads = "; ".join(b["load_average"].split(" / ")[0] for b in v["bursts"])
            lines.append(f"| {path} | {m['qps']} | {m['gateway_cpu_ms_per_call']} | "
                         f"{m['triton_cpu_ms_per_call']} | {m['stack_cpu_ms_per_call']} | "
                         f"{loads} |")
    if cpu.get("levers"):
        lines += ["", "### Levers: quality cost (nDCG@10, 30 test queries) and direct speed", "",
                  f"Measured by `{cpu.get('levers_command', cpu['command'])}` (an earlier run "
                  "than the figures above, with the code of that time)." if
                  cpu.get("levers_command") else f"Measured by `{cpu['command']}`.", "",
                  "Item side embedded as the lever serves it; keyphrases as the index holds "
                  "them (fp32, cap 128); \"both sides\": keyphrases embedded the same way too.",
                  "", "| precision | token cap | nDCG@10 | Δ vs fp32/128 | both sides | "
                  "titles/s batch 1 | batch 8 | load |", "|---|---:|---:|---:|---:|---:|---:|---|"]
        ref = next(r["ndcg@10"] for r in cpu["levers"]["quality"]
                   if r["precision"] == "fp32" and r["max_length"] == 128)
        for r in cpu["levers"]["quality"]:
            lines.append(f"| {r['precision']} | {r['max_length']} | {r['ndcg@10']:.4f} | "
                         f"{r['ndcg@10'] - ref:+.4f} | {r['ndcg@10_both_sides']:.4f} | "
                         f"{r['titles_per_s_batch1']} | {r['titles_per_s_batch8']} | "
                         f"{r['load_average']} |")
        lines += ["", "### Levers through the gateway (each: direct bound, sweep, direct "
                  "bound again)", "",
                  "| variant | direct titles/s | best QPS | at concurrency | ratio | "
                  "search ms | gateway CPU ms/call | Triton CPU ms/call | CPU-cost ratio |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, v in cpu["levers"]["gateway"].items():
            best = next(r for r in v["sweep"] if r["concurrency"] == v["best_concurrency"])
            lines.append(f"| {name} | {v['direct_titles_per_s']} | {v['best_qps']} | "
                         f"{v['best_concurrency']} | {v['ratio_to_direct']} | "
                         f"{best['stage_mean_ms']['search']} | "
                         f"{best['cpu_ms_per_call']['gateway']} | "
                         f"{best['cpu_ms_per_call']['triton']} | "
                         f"{v.get('cpu_cost_ratio', '—')} |")
    return "\n".join(lines) + "\n"




def write_results(cpu: dict, out: Path) -> None:
    """``cpu`` into ``gateway.json`` (other keys kept) and its section into ``gateway.md``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "gateway.json"
    result = json.loads(path.read_text()) if path.is_file() else {}
    old = result.get("cpu", {})
    if "levers" not in cpu and "levers" in old:  # a plain run keeps the last levers run
        cpu = {**cpu, "levers": old["levers"],
               "levers_command": old.get("levers_command", old.get("command"))}
    result["cpu"] = cpu
    path.write_text(json.dumps(result, indent=2) + "\n")
    md = out / "gateway.md"
    text = md.read_text() if md.is_file() else "# Gateway load test\n"
    section = f"{CPU_START}\n{markdown(cpu)}{CPU_END}"
    if CPU_START in text and CPU_END in text:
        head, _, rest = text.partition(CPU_START)
        _, _, tail = rest.partition(CPU_END)
        text = f"{head}{section}{tail}"
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    md.write_text(text)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-repository", type=Path, default=artifacts_dir() / "model_repository",
                   help="the served repository (python-onnx); built from the stand-in models "
                        "under artifacts/perf when missing")
    p.add_argument("--student", type=Path, help="student the repository serves (default MiniLM)")
    p.add_argument("--out", type=Path, default=Path("docs/results"))
    p.add_argument("--concurrency", default="1,2,4,8")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per concurrency level")
    p.add_argument("--direct-seconds", type=float, default=3.0, help="seconds per direct batch")
    p.add_argument("--search-backend", default="auto", choices=("auto", "exact", "milvus"))
    p.add_argument("--tokenize", default="",
                   help="embedding paths to measure, e.g. gateway,triton (default: the "
                        "gateway's default path only; cpu.* always come from the default)")
    p.add_argument("--before", action="store_true",
                   help="also measure the previous default (texts to embed_text, the encoder "
                        "running merged batches unsplit) in the same run")
    p.add_argument("--ab-rounds", type=int, default=0,
                   help="also run both tokenize paths side by side: this many rounds of "
                        "alternating bursts at the highest --concurrency level")
    p.add_argument("--levers", action="store_true", help="also measure each lever")
    p.add_argument("--lever-caps", default="128,64,48", help="token caps of the quality levers")
    p.add_argument("--lever-cap", type=int, default=48,
                   help="shorter cap taken through the gateway in the levers run")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--command", help="the command to record (default: this module's)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from serving.proto.kpdistill.v1 import recommender_pb2 as pb

    student, work, repository, index_uri, items = served_setup(
        args.student, args.model_repository, "cpu-bound")
    texts = served_texts(items)
    requests = [pb.RecommendRequest(item=item_message(i), k=10) for i in items]
    levels = [int(c) for c in args.concurrency.split(",")]
    command = args.command or "python -m bench.serving.cpu_bound " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    print(f"CPU bound of {repository} ({hardware()}); load {load_text()}", flush=True)
    paths = [t for t in args.tokenize.split(",") if t] or [default_tokenize()]
    measured = {}
    for path in paths:
        print(f"Tokenized in the {path}", flush=True)
        measured[path] = measure(repository, index_uri, texts, requests, levels, args.duration,
                                 args.direct_seconds, args.search_backend, work / f"logs-{path}",
                                 tokenize=path)
    if args.before:
        print("Before: tokenized in Triton, merged batches unsplit", flush=True)
        measured["triton, merged batches (before)"] = measure(
            merged_batches_repository(repository, work / "repo-merged"), index_uri, texts,
            requests, levels, args.duration, args.direct_seconds, args.search_backend,
            work / "logs-before", tokenize="triton")
    default = measured.get(default_tokenize()) or measure(
        repository, index_uri, texts, requests, levels, args.duration, args.direct_seconds,
        args.search_backend, work / "logs")
    cpu = {"command": command, "hardware": hardware(),
           "direct_titles_per_s": default["direct_titles_per_s"],
           "best_qps": default["best_qps"], "ratio_to_direct": default["ratio_to_direct"],
           "default": default}
    if len(measured) > 1:
        cpu["tokenize_paths"] = measured
    if args.ab_rounds:
        print("Tokenize paths side by side", flush=True)
        from bench.serving.tokenize_ab import tokenize_ab

        cpu["tokenize_ab"] = tokenize_ab(repository, index_uri, requests, max(levels),
                                         args.duration, args.ab_rounds, work)
    print(f"CPU: direct bound {cpu['direct_titles_per_s']} titles/s, gateway best "
          f"{cpu['best_qps']} QPS at concurrency {default['best_concurrency']}: ratio "
          f"{cpu['ratio_to_direct']}", flush=True)
    if args.levers:
        cpu["levers"] = levers(repository, student, index_uri, texts, requests, levels, args,
                               work)
    if not args.no_write:
        write_results(cpu, args.out)
        print(f"written: {args.out / 'gateway.json'} (cpu.*), {args.out / 'gateway.md'}")
    return cpu


def levers(repository: Path, student: Path, index_uri: str, texts, requests, levels, args,
           work: Path) -> dict:
    threads = server_threads(repository_encoder(repository))
    onnx = student_onnx_pair(student, work)
    print("Levers: quality and direct speed", flush=True)
    quality = quality_levers(student, onnx, [int(c) for c in args.lever_caps.split(",")], texts,
                             threads, args.direct_seconds)
    n = os.cpu_count() or 1
    variants = {
        "fp32, cap 128, 1 instance x all threads, Milvus Lite search":
            ("fp32", 128, 1, 0, "milvus"),
        "fp32, cap 128, 1 instance x all threads, exact search": ("fp32", 128, 1, 0, "exact"),
        "int8, cap 128, 1 instance x all threads, exact search": ("int8", 128, 1, 0, "exact"),
        f"int8, cap 128, {n} instances x 1 thread, exact search": ("int8", 128, n, 1, "exact"),
        f"int8, cap {args.lever_cap}, {n} instances x 1 thread, exact search":
            ("int8", args.lever_cap, n, 1, "exact"),
    }
    gateway = {}
    for i, (name, (precision, cap, instances, threads, search)) in enumerate(variants.items()):
        print(f"Lever: {name}", flush=True)
        repo = variant_repository(repository, work / f"repo-{i}", onnx[precision], precision,
                                  cap, instances, threads)
        gateway[name] = measure(repo, index_uri, texts, requests, levels, args.duration,
                                args.direct_seconds, search, work / f"logs-{i}")
    return {"quality": quality, "gateway": gateway}


if __name__ == "__main__":
    main()
