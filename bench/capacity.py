"""A capacity model from measured unit costs: what a catalogue of I items and K keyphrases
costs to judge, score, train on, index and serve, each line resting on a figure this
repository measured (``docs/results/*.json``), named with its source.

    python -m bench.capacity [--results docs/results] [--size 10M:1M --size 1B:10M]
        [--target-qps 10000] [--out docs/SCALING.md]

The shape of the work follows the cross-validated benchmark's recipe (bench/cv): the judge
labels a fixed number of items per training keyphrase (retrieved + random candidates), the
assistant scores a pool about ten times larger, and the students learn from clicks, the
judge's lists and the pool. Those per-keyphrase counts are themselves measured (the round's
candidate and pool pairs over its training keyphrases), so the model scales the measured run,
it does not guess a recipe. What is modelled, not measured, is said so in each line.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RESULTS = Path("docs/results")
SIZES = ((10_000_000, 1_000_000), (1_000_000_000, 10_000_000))
MATRYOSHKA_DIMS = (384, 256, 128, 64)
HNSW_M = 16                 # components/indexing/config.py
FLOAT_BYTES = 4
ROW_OVERHEAD_BYTES = 64     # primary key, source, class, category ids: modelled, not measured
GATEWAY_P99_MS = 50.0       # the gateway level counted for capacity: the best within this p99


@dataclass(frozen=True)
class Unit:
    """One measured unit cost: its value, what it counts, and where it was measured."""

    value: float
    unit: str
    source: str
    hardware: str = ""


def _load(results: Path, name: str) -> dict:
    path = results / name
    return json.loads(path.read_text()) if path.is_file() else {}


def unit_costs(results: Path = DEFAULT_RESULTS) -> dict[str, Unit]:
    """The measured figures the model rests on; a figure not measured is left out."""
    cv, gateway, serving = (_load(results, n) for n in ("cv.json", "gateway.json",
                                                         "serving.json"))
    out: dict[str, Unit] = {}
    stages, hardware = cv.get("stages", {}), cv.get("hardware", "")
    if stages:
        prepare, judge, pool = stages["prepare"], stages["judge"], stages["pool"]
        keyphrases = prepare["training_keyphrases"]["all"]
        out["judged_per_keyphrase"] = Unit(judge["pairs"] / keyphrases, "judged pairs a keyphrase",
                                           "cv.json stages.judge.pairs / training keyphrases")
        out["pool_per_keyphrase"] = Unit(pool["pairs"] / keyphrases, "pool pairs a keyphrase",
                                         "cv.json stages.pool.pairs / training keyphrases")
        out["judge_pairs_per_s"] = Unit(judge["pairs_per_s"], "pairs/s a GPU",
                                        "cv.json stages.judge.pairs_per_s", hardware)
        if "dimensions" in stages:
            out["dimension_pairs_per_s"] = Unit(stages["dimensions"]["pairs_per_s"],
                                                "pairs/s a GPU (8 dimension questions)",
                                                "cv.json stages.dimensions.pairs_per_s", hardware)
        out["pool_pairs_per_s"] = Unit(pool["pairs_per_s"], "pairs/s a GPU",
                                       "cv.json stages.pool.pairs_per_s", hardware)
        runs = [r for variant in stages.get("students", {}).values() for r in variant.values()]
        seconds = stages.get("timings", {}).get("students")
        if runs and seconds:
            texts = sum(r["texts_per_s"] * r["seconds"] for r in runs)
            out["student_texts_per_s"] = Unit(
                texts / seconds, "texts encoded/s a GPU (all runs side by side)",
                f"cv.json stages.students: {len(runs)} runs' texts over the stage's "
                f"{seconds:.0f} s", hardware)
    h200 = serving.get("h200", {})
    for key in ("embed_text", "encoder"):
        rows = h200.get(key) or []
        # the workload each unit stands for: whole item texts (not titles alone) for embedding
        # items; the 32-token rows for the encoder (its other rows are the 128-token check)
        wanted = ([r for r in rows if r.get("input") == "item texts"] if key == "embed_text"
                  else [r for r in rows if r.get("seq_len", 32) == 32])
        rows = wanted or rows
        if rows:  # perf_analyzer's infer/s counts sequences (serving.json notes)
            best = max(rows, key=lambda r: r["infer_per_s"])
            what = f", {best['input']}" if "input" in best else ""
            out[f"served_{key}_seq_per_s"] = Unit(
                best["infer_per_s"], f"sequences/s a GPU (Triton{what})",
                f"serving.json h200.{key}", h200.get("hardware", ""))
    if "served_embed_text_seq_per_s" not in out and serving.get("h100"):
        best = serving["h100"].get("comparison", {}).get("best_served_encoder_seq_per_s")
        if best:
            out["served_encoder_seq_per_s"] = Unit(
                best, "sequences/s a GPU (Triton, random weights, token ids in)",
                "serving.json h100.comparison (history)", serving["h100"].get("hardware", ""))
    rows = (gateway.get("h200") or {}).get("bi_encoder") or []
    good = [r for r in rows if not r.get("errors")]
    # capacity at a latency a caller accepts: the best level with p99 within GATEWAY_P99_MS
    good = [r for r in good if r["p99_ms"] <= GATEWAY_P99_MS] or good
    if good:
        best = max(good, key=lambda r: r["qps"])
        out["gateway_qps"] = Unit(best["qps"], f"Recommend calls/s a GPU host (p99 "
                                  f"{best['p99_ms']:.0f} ms at concurrency {best['concurrency']})",
                                  "gateway.json h200.bi_encoder", gateway["h200"].get("hardware",
                                                                                       ""))
    return out


def _gpu_hours(work: float, rate: Unit | None) -> float | None:
    return work / rate.value / 3600 if rate else None


def index_bytes(keyphrases: int, dim: int, text_bytes: float, m: int = HNSW_M) -> float:
    """Float32 vectors, the HNSW graph's base-layer links (2·M neighbours, 4-byte ids; upper
    layers add ~1/M more) and the scalar fields."""
    links = 2 * m * 4 * (1 + 1 / m)
    return keyphrases * (dim * FLOAT_BYTES + links + text_bytes + ROW_OVERHEAD_BYTES)


def plan(items: int, keyphrases: int, units: dict[str, Unit], target_qps: float,
         text_bytes: float = 24.0) -> dict:
    """The capacity of one catalogue size: a dict of lines {what, amount, rests on}."""
    u = units.get
    lines: list[dict] = []

    def add(what: str, amount: float | None, fmt: str, *rests: str | None):
        lines.append({"what": what, "amount": None if amount is None else fmt.format(amount),
                      "value": amount, "rests_on": [r for r in rests if r]})

    judged = keyphrases * u("judged_per_keyphrase").value if u("judged_per_keyphrase") else None
    pool = keyphrases * u("pool_per_keyphrase").value if u("pool_per_keyphrase") else None

    def src(k: str) -> str | None:
        return f"{u(k).value:,.1f} {u(k).unit} ({u(k).source})" if u(k) else None

    add("pairs the judge labels", judged, "{:,.0f}", src("judged_per_keyphrase"))
    add("judged pairs an item (mean)", judged / items if judged else None, "{:.3f}")
    add("judge GPU-hours", _gpu_hours(judged, u("judge_pairs_per_s")) if judged else None,
        "{:,.1f}", src("judge_pairs_per_s"))
    add("dimension questions GPU-hours (if asked for every judged pair)",
        _gpu_hours(judged, u("dimension_pairs_per_s")) if judged else None, "{:,.1f}",
        src("dimension_pairs_per_s"))
    add("pool pairs the assistant scores", pool, "{:,.0f}", src("pool_per_keyphrase"))
    add("assistant scoring GPU-hours", _gpu_hours(pool, u("pool_pairs_per_s")) if pool else None,
        "{:,.1f}", src("pool_pairs_per_s"))
    # one pass over every judged and pooled pair: two texts a pair (keyphrase and item)
    texts = 2 * (judged + pool) if judged and pool else None
    add("student GPU-hours, one epoch over the judged pairs and the pool (2 texts a pair)",
        _gpu_hours(texts, u("student_texts_per_s")) if texts else None, "{:,.1f}",
        src("student_texts_per_s"))
    embed = u("served_embed_text_seq_per_s") or u("served_encoder_seq_per_s")
    add("GPU-hours to embed every item once (batch recommendations)",
        _gpu_hours(items, embed), "{:,.2f}", src("served_embed_text_seq_per_s")
        or src("served_encoder_seq_per_s"))
    for dim in MATRYOSHKA_DIMS:
        add(f"index RAM at {dim} dims (HNSW M={HNSW_M}, modelled)",
            index_bytes(keyphrases, dim, text_bytes) / 2**30, "{:,.1f} GiB",
            f"{dim}×4-byte vectors + HNSW links + ~{text_bytes:.0f}-byte keyphrase text")
    gateway = u("gateway_qps")
    add(f"GPU hosts for {target_qps:,.0f} Recommend calls/s",
        math.ceil(target_qps / gateway.value) if gateway else None, "{:,.0f}", src("gateway_qps"))
    if not gateway and embed:
        add(f"GPUs for {target_qps:,.0f} embeddings/s (the model alone: a lower bound)",
            math.ceil(target_qps / embed.value), "{:,.0f}", src("served_embed_text_seq_per_s")
            or src("served_encoder_seq_per_s"))
    return {"items": items, "keyphrases": keyphrases, "target_qps": target_qps, "lines": lines}


def _size(text: str) -> tuple[int, int]:
    scale = {"K": 10**3, "M": 10**6, "B": 10**9}

    def one(part: str) -> int:
        part = part.strip().upper()
        return int(float(part[:-1]) * scale[part[-1]]) if part[-1] in scale else int(part)
    items, _, keyphrases = text.partition(":")
    if not keyphrases:
        raise argparse.ArgumentTypeError(f"{text!r}: give ITEMS:KEYPHRASES, e.g. 10M:1M")
    return one(items), one(keyphrases)


def _human(n: int) -> str:
    for div, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= div:
            return f"{n / div:g}{suffix}"
    return str(n)


def markdown(plans: list[dict], units: dict[str, Unit], command: str) -> str:
    out = ["| line | " + " | ".join(f"{_human(p['items'])} items × {_human(p['keyphrases'])} "
                                     "keyphrases" for p in plans) + " | rests on |",
           "|---" * (len(plans) + 2) + "|"]
    for i, line in enumerate(plans[0]["lines"]):
        cells = [p["lines"][i]["amount"] or "not measured" for p in plans]
        out.append(f"| {line['what']} | " + " | ".join(cells) + " | "
                   + "; ".join(line["rests_on"]) + " |")
    out += ["", "Measured unit costs:", ""]
    out += [f"- `{k}`: {v.value:,.1f} {v.unit} — {v.source}"
            + (f" ({v.hardware})" if v.hardware else "") for k, v in units.items()]
    out += ["", f"Recompute: `{command}`", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--size", type=_size, action="append",
                        help="ITEMS:KEYPHRASES, e.g. 10M:1M (repeatable)")
    parser.add_argument("--target-qps", type=float, default=10_000)
    parser.add_argument("--out", type=Path, default=None,
                        help="write the table between the markers of this Markdown file")
    args = parser.parse_args(argv)
    units = unit_costs(args.results)
    plans = [plan(i, k, units, args.target_qps) for i, k in (args.size or SIZES)]
    table = markdown(plans, units, "python -m bench.capacity" + (
        f" --out {args.out}" if args.out else ""))
    if args.out:
        replace_between_markers(args.out, table)
    print(table)
    return 0


START, END = "<!-- capacity:start -->", "<!-- capacity:end -->"


def replace_between_markers(path: Path, table: str) -> None:
    text = path.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{path}: no {START} ... {END} markers to write the table between")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    raise SystemExit(main())
