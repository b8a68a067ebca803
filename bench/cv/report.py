"""Stage ``report``: the cross-validated table, paired bootstrap intervals, the seed-13 table.

Per model, every ESCI query's metric comes from the fold in which it was a test query (mean
over seeds where the model has seeds); fold-independent models (zero-shot MiniLM, the judge,
the assistant) are scored on every query directly. ``paired.<a>_minus_<b>`` is the paired
bootstrap over queries of the per-query nDCG@10 difference.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.cv.common import load_splits, log, read_json, write_json
from bench.cv.config import CVConfig
from components.metrics.bootstrap import paired_bootstrap

METRICS = ("ndcg@10", "recall@10", "precision@10", "mrr")
PAIRS = (("distilled", "click_only"), ("distilled", "click_sr"), ("distilled", "one_step"),
         ("distilled", "minilm_zero_shot"), ("one_step", "click_only"),
         ("one_step", "minilm_zero_shot"),
         ("click_sr", "click_only"), ("click_only", "minilm_zero_shot"),
         ("cross_encoder", "judge"), ("judge_lora", "judge"), ("distilled", "judge"))


def extra_pairs(variants) -> tuple[tuple[str, str], ...]:
    """Variants beyond the four standard ones (e.g. ``distilled_lora``) against the baselines,
    against the standard variant their name extends, and against what that one is paired
    with."""
    standard = ("click_only", "click_sr", "one_step", "distilled")
    out = []
    for v in variants:
        if v in standard:
            continue
        base = [s for s in standard if v.startswith(s + "_")]
        out += [(v, "click_only"), (v, "click_sr"), (v, "minilm_zero_shot")]
        out += [(v, s) for s in base]
        # and whatever else the variant it extends is paired with (distilled: one_step, judge)
        out += [(v, b) for s in base for a, b in PAIRS if a == s and (v, b) not in out]
    return tuple(out)


def long_tail_queries(config: CVConfig) -> set[str]:
    """The long-tail half: queries with more words than the median query (ELLM-rele reports
    its largest gains on long-tail queries; word count is the proxy the data allows)."""
    from bench.cv.common import Data

    words = {q: len(text.split()) for q, text in Data.load(config.max_queries).query_text.items()}
    median = float(np.median(list(words.values())))
    return {q for q, n in words.items() if n > median}


def _mean(values) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def _per_query(entries: list[dict], metric: str) -> dict[str, float]:
    """One value per query: the mean over the entries (seeds) that scored it."""
    values: dict[str, list[float]] = defaultdict(list)
    for per_query in entries:
        for qid, m in per_query.items():
            values[qid].append(m[metric])
    return {q: _mean(v) for q, v in values.items()}


def collect(config: CVConfig, work: Path) -> dict[str, dict[str, dict]]:
    """model -> split -> {"seeds": {seed: per_query}} (split "all" for fold-free models)."""
    models: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for dim, pq in read_json(work / "prepare" / "zero_shot.json").items():
        name = "minilm_zero_shot" + ("" if dim == "384" else f"_{dim}")
        models[name]["all"] = {"seeds": {0: pq}}
    prompts = read_json(work / "judge" / "prompts.json")
    models["judge"]["all"] = {"seeds": {0: prompts["per_query"][prompts["chosen"]]}}
    for prompt, pq in prompts["per_query"].items():
        models[f"judge[{prompt}]"]["all"] = {"seeds": {0: pq}}
    assistant = read_json(work / "assistant" / "assistant.json")
    models["cross_encoder"]["all"] = {
        "seeds": {0: assistant["objectives"][assistant["chosen"]]["per_query"]}}
    for objective, entry in assistant["objectives"].items():
        models[f"cross_encoder[{objective}]"]["all"] = {"seeds": {0: entry["per_query"]}}
    for path in sorted((work / "lora").glob("*.json")):
        models["judge_lora"][path.stem] = {"seeds": {0: read_json(path)["per_query"]}}
    for path in sorted((work / "students").glob("*/*.json")):
        job = read_json(path)
        full = max(job["per_query"], key=int)
        for dim, pq in job["per_query"].items():
            name = job["variant"] + ("" if dim == full else f"_{dim}")
            models[name][job["split"]].setdefault("seeds", {})[job["seed"]] = pq
    return models


def model_table(models: dict, query_ids: dict[str, list[str]], metric: str) -> dict:
    """Per model: mean over ``query_ids`` of each split role, per-query values, seed spread."""
    out = {}
    for name, by_split in models.items():
        per_query: dict[str, float] = {}
        seed_means: dict[int, list[float]] = defaultdict(list)
        for split, queries in query_ids.items():
            source = by_split.get(split) or by_split.get("all")
            if not source:
                continue
            for seed, pq in source["seeds"].items():
                seed_means[seed] += [pq[q][metric] for q in queries if q in pq]
            merged = _per_query(list(source["seeds"].values()), metric)
            per_query.update({q: merged[q] for q in queries if q in merged})
        if not per_query:
            continue
        seeds = {s: _mean(v) for s, v in seed_means.items()}
        out[name] = {"mean": _mean(per_query.values()), "queries": len(per_query),
                     "seeds": len(seeds), "per_query": per_query,
                     "seed_means": seeds,
                     "seed_std": float(np.std(list(seeds.values()))) if len(seeds) > 1 else 0.0}
    return out


def baseline_models(config: CVConfig, queries: set[str]) -> dict[str, dict]:
    """The ``baseline_variants``' rows (and their Matryoshka dims) from the earlier round's
    ``cv.json``: name -> {"entry": its ``cv.models`` row, "per_query": its nDCG@10 per query}.

    They stand in for variants this round does not train, so the earlier round must have
    used the same folds (fold seed and count), seeds and queries: checked here."""
    carried = set(config.baseline_variants) | set(config.baseline_rows)
    if not carried:
        return {}
    path = Path(config.baseline_results)
    earlier = read_json(path)["cv"]
    if earlier["folds"] != config.n_folds or list(earlier["seeds"]) != list(config.seeds):
        raise ValueError(f"{path}: {earlier['folds']} folds, seeds {earlier['seeds']}; this "
                         f"round has {config.n_folds} folds, seeds {list(config.seeds)}")
    out = {}
    for name, per_query in earlier["per_query_ndcg@10"].items():
        variant, _, dim = name.rpartition("_")
        if name not in carried and not (dim.isdigit() and variant in carried):
            continue
        if set(per_query) != queries:
            raise ValueError(f"{path}: {name} was scored on {len(per_query)} queries, not on "
                             f"this round's {len(queries)}")
        out[name] = {"entry": earlier["models"][name] | {"from": str(path)},
                     "per_query": per_query}
    missing = carried - set(out)
    if missing:
        raise ValueError(f"{path} has no results for {sorted(missing)}")
    return out


def run_report(config: CVConfig, work: Path, out: Path | None, hardware: str = "",
               config_path: Path | str | None = None) -> dict:
    splits = load_splits(work)
    folds = {name: s.queries("test") for name, s in splits.items() if name.startswith("fold")}
    models = collect(config, work)
    cv = {"folds": len(folds), "seeds": list(config.seeds),
          "queries": sum(len(q) for q in folds.values()), "models": {}, "paired": {}}
    tables = {m: model_table(models, folds, m) for m in METRICS}
    for name in tables["ndcg@10"]:
        entry = {m: tables[m][name]["mean"] for m in METRICS if name in tables[m]}
        entry.update({k: tables["ndcg@10"][name][k] for k in ("queries", "seeds", "seed_std")})
        entry["seed_means_ndcg@10"] = tables["ndcg@10"][name]["seed_means"]
        cv["models"][name] = entry
    ndcg = {n: t["per_query"] for n, t in tables["ndcg@10"].items()}
    queries = {q for qs in folds.values() for q in qs}
    for name, earlier in baseline_models(config, queries).items():
        if name not in cv["models"]:  # trained in this round after all: its own result wins
            cv["models"][name] = earlier["entry"]
            ndcg[name] = earlier["per_query"]
    if config.baseline_variants or config.baseline_rows:
        cv["baseline"] = {"results": config.baseline_results,
                          "variants": list(config.baseline_variants),
                          "rows": list(config.baseline_rows)}
    for a, b in PAIRS + extra_pairs(config.variants):
        if a in ndcg and b in ndcg:
            cv["paired"][f"{a}_minus_{b}"] = paired_bootstrap(
                ndcg[a], ndcg[b], n_resamples=config.bootstrap_resamples)
    tail = long_tail_queries(config)
    cv["long_tail"] = {"definition": "queries with more words than the median query "
                                     f"({len(tail)} of {cv['queries']})",
                       "paired": {}}
    for a, b in PAIRS + extra_pairs(config.variants):
        a_tail = {q: v for q, v in ndcg.get(a, {}).items() if q in tail}
        b_tail = {q: v for q, v in ndcg.get(b, {}).items() if q in tail}
        if set(a_tail) & set(b_tail):
            cv["long_tail"]["paired"][f"{a}_minus_{b}"] = paired_bootstrap(
                a_tail, b_tail, n_resamples=config.bootstrap_resamples)
    cv["per_query_ndcg@10"] = ndcg
    seed13 = {}
    if "seed13" in splits:
        test = {"seed13": splits["seed13"].queries("test")}
        seed13_models = {k: v for k, v in models.items() if "seed13" in v or "all" in v}
        t13 = {m: model_table(seed13_models, test, m) for m in METRICS}
        seed13 = {name: {m: t13[m][name]["mean"] for m in METRICS}
                  | {"queries": t13["ndcg@10"][name]["queries"],
                     "seeds": t13["ndcg@10"][name]["seeds"],
                     "seed_std": t13["ndcg@10"][name]["seed_std"]}
                  for name in t13["ndcg@10"]}
    result = {"cv": cv, "seed13": seed13, "stages": _stage_facts(work), "hardware": hardware}
    write_json(work / "report" / "report.json", result)
    log(json.dumps({k: round(v["ndcg@10"], 4) for k, v in cv["models"].items()}, indent=1))
    log(json.dumps({k: {x: round(y, 4) for x, y in v.items() if x != "n_queries"}
                    for k, v in cv["paired"].items()}, indent=1))
    if out is not None:
        from bench.cv.results import COMMAND, command_for, publish

        publish(result, out, command_for(config_path) if config_path else COMMAND)
    return result


def _stage_facts(work: Path) -> dict:
    facts = {}
    for name, rel in (("prepare", "prepare/summary.json"), ("judge", "judge/throughput.json"),
                      ("dimensions", "judge/dimensions.json"),
                      ("prompts", "judge/prompts.json"), ("assistant", "assistant/assistant.json"),
                      ("pool", "pool/pool.json"), ("timings", "timings.json")):
        path = work / rel
        if path.exists():
            data = read_json(path)
            if name == "prompts":
                data = {"chosen": data["chosen"], "chosen_on": data["chosen_on"],
                        "reports": data["reports"]}
            if name == "assistant":
                data = {k: v for k, v in data.items() if k != "objectives"} | {
                    "objectives": {o: {k: v for k, v in e.items() if k != "per_query"}
                                   for o, e in data["objectives"].items()}}
            facts[name] = data
    lora = {}
    for path in sorted((work / "lora").glob("*.json")):
        data = read_json(path)
        lora[path.stem] = {k: v for k, v in data.items() if k != "per_query"}
    if lora:
        facts["lora"] = lora
    students = defaultdict(dict)
    for path in sorted((work / "students").glob("*/*.json")):
        job = read_json(path)
        students[job["variant"]][f"{job['split']}/s{job['seed']}"] = {
            "examples": job["examples"], "examples_per_s": job["train"]["examples_per_s"],
            "seconds": job["train"]["seconds"], "best_step": job["train"]["best_step"],
            "texts_per_s": job["train"].get("texts_per_s"),
            "validation": job["train"].get("validation")}
    if students:
        facts["students"] = students
    return facts
