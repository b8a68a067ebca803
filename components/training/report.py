"""Results of the experiment: seed noise, the JSON/Markdown report, the plot, quality.json keys."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from components.baselines.results import merge_results, write_markdown
from components.evaluation.evaluate import METRICS, aggregate_seeds, metrics_markdown

COMPARISONS = (("distilled", "click_only"), ("distilled", "one_step"),
               ("one_step", "click_only"), ("distilled_64", "click_only"))


def _seed_rows(report: dict, variant: str, dim: int) -> list[dict]:
    seeds = report["students"].get(variant, {}).get("seeds", {})
    return [by_dim[dim] for by_dim in seeds.values()]


def model_rows(report: dict) -> tuple[dict, dict, dict]:
    """Model key → mean metrics, → std over seeds, → per-query nDCG@10 averaged over seeds."""
    means, stds, per_query = {}, {}, {}
    dims = report["config"]["student"]["matryoshka_dims"]
    full = max(dims)
    means["minilm_zero_shot"] = report["zero_shot"][full]
    ce = report["cross_encoder"]["bce"]["test"]
    means["cross_encoder"] = ce
    per_query["cross_encoder"] = ce["per_query_ndcg@10"]
    keys = [("click_only", full), ("one_step", full)]
    keys += [("distilled" if d == full else f"distilled_{d}", d) for d in dims]
    for key, dim in keys:
        variant = "distilled" if key.startswith("distilled") else key
        rows = _seed_rows(report, variant, dim)
        if not rows:
            continue
        means[key], stds[key] = aggregate_seeds(rows)
        means[key]["queries"] = rows[0].get("queries")
        qids = rows[0]["per_query_ndcg@10"].keys()
        per_query[key] = {q: float(np.nanmean([r["per_query_ndcg@10"][q] for r in rows]))
                          for q in qids}
    return means, stds, per_query


def compare_to_noise(report: dict, n_boot: int = 2000, seed: int = 0) -> dict:
    """Differences of test nDCG@10 against seed noise (2 × standard error over seeds) and a
    paired bootstrap over test queries (95% interval of the mean per-query difference)."""
    means, stds, per_query = model_rows(report)
    n_seeds = len(report["config"]["experiment"]["seeds"])
    rng = np.random.default_rng(seed)
    out = {}
    for a, b in COMPARISONS:
        if a not in means or b not in means:
            continue
        diff = means[a]["ndcg@10"] - means[b]["ndcg@10"]
        sa, sb = stds.get(a, {}).get("ndcg@10", math.nan), stds.get(b, {}).get("ndcg@10", math.nan)
        se = math.sqrt((sa ** 2 + sb ** 2) / n_seeds) if n_seeds > 1 else math.nan
        qids = sorted(set(per_query[a]) & set(per_query[b]))
        d = np.array([per_query[a][q] - per_query[b][q] for q in qids])
        d = d[~np.isnan(d)]
        boot = rng.choice(d, size=(n_boot, len(d))).mean(axis=1) if len(d) else np.array([np.nan])
        lo, hi = np.percentile(boot, [2.5, 97.5])
        out[f"{a} - {b}"] = {
            "ndcg@10_diff": round(diff, 4), "seed_std": [sa, sb],
            "two_se": round(2 * se, 4) if not math.isnan(se) else None,
            "exceeds_seed_noise": bool(abs(diff) > 2 * se) if not math.isnan(se) else None,
            "query_bootstrap_95": [round(float(lo), 4), round(float(hi), 4)],
            "queries_better": int((d > 0).sum()), "queries_worse": int((d < 0).sum()),
        }
    return out


def _quality_entries(report: dict, command: str) -> dict:
    means, stds, _ = model_rows(report)
    n_seeds = len(report["config"]["experiment"]["seeds"])
    entries = {}
    for key, row in means.items():
        if key == "minilm_zero_shot":
            continue  # the baselines' key; not ours to overwrite
        test = {m: row.get(m) for m in METRICS}
        test["queries"] = row.get("queries")
        entry = {"command": command, "test": test, "device": report["device"]}
        if key in stds:
            entry["test_std"] = stds[key]
            entry["seeds"] = n_seeds
        if key == "cross_encoder":
            entry["judge_like_test"] = report["cross_encoder"]["bce"]["judge_like_test"]
        entries[key] = entry
    return entries


def plot_table(means: dict, stds: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(means)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, metric in zip(axes, ("ndcg@10", "irrelevant_rate@10"), strict=True):
        vals = [means[k].get(metric, np.nan) for k in keys]
        errs = [stds.get(k, {}).get(metric, 0.0) or 0.0 for k in keys]
        ax.bar(range(len(keys)), vals, yerr=errs, capsize=3,
               color=["#999" if k == "minilm_zero_shot" else "#4c72b0" for k in keys])
        ax.set_xticks(range(len(keys)), keys, rotation=35, ha="right")
        ax.set_title(f"test queries: {metric} (mean ± std over seeds)")
        finite = [v for v in vals if not np.isnan(v)]
        if finite and metric == "ndcg@10":
            ax.set_ylim(max(0.0, min(finite) - 0.1), min(1.0, max(finite) + 0.05))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _strip(obj):
    """JSON-safe: int keys to str, per-query tables kept."""
    if isinstance(obj, dict):
        return {str(k): _strip(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strip(v) for v in obj]
    return obj


def write_training_report(report: dict, out: Path, command: str) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "training.json").write_text(json.dumps(_strip(report), indent=2, allow_nan=True))
    means, stds, _ = model_rows(report)
    plot_table(means, stds, out / "training.png")
    data = merge_results(out / "quality.json", _quality_entries(report, command))
    write_markdown(out / "quality.md", data)
    ce = report["cross_encoder"]
    lines = ["# Cross-encoder and student training", "",
             f"Device: {report['device']}. Command: `{command}`. Total {report['seconds']} s.", "",
             "## Test queries (mean ± std over seeds)", "", metrics_markdown(means, stds), "",
             "![table](training.png)", "", "## Differences against seed noise (test nDCG@10)",
             "", "| comparison | diff | 2×SE (seeds) | exceeds seed noise | query bootstrap 95% |",
             "|---|---|---|---|---|"]
    for name, c in report["noise"].items():
        lines.append(f"| {name} | {c['ndcg@10_diff']:+.4f} | {c['two_se']} | "
                     f"{c['exceeds_seed_noise']} | {c['query_bootstrap_95']} |")
    lines += ["", "## Cross-encoder vs the human labels (test queries)", "",
              "| objective | AUC | kappa @ threshold (from validation) | nDCG@10 | train ex/s |",
              "|---|---|---|---|---|"]
    for obj, r in ce.items():
        j = r["judge_like_test"]
        lines.append(f"| {obj} | {j['auc']:.4f} | {j['kappa']:.4f} @ {j['threshold']:.2f} | "
                     f"{r['test']['ndcg@10']:.4f} | {r['train']['examples_per_s']} |")
    for obj, r in ce.items():
        if r.get("sweep"):
            lines += ["", f"Cross-encoder settings tried ({obj}; validation queries choose):", "",
                      "| epochs | lr | validation nDCG@10 (best checkpoint) | steps |",
                      "|---|---|---|---|"]
            for t in r["sweep"]:
                lines.append(f"| {t['setting']['epochs']} | {t['setting']['learning_rate']} | "
                             f"{t['validation_ndcg@10']:.4f} | {t['train']['steps']} |")
    sweep = report["students"].get("distill_weight_sweep")
    if sweep:
        lines += ["", "Distillation task weight (first seed; validation queries choose):", "",
                  "| distill weight | validation nDCG@10 |", "|---|---|"]
        lines += [f"| {t['distill_weight']} | {t['validation_ndcg@10']:.4f} |" for t in sweep]
    pool = report["pool"]
    lines += ["", "## Pool scored by the cross-encoder", "",
              f"{pool['pairs']} pairs ({pool['keyphrases']} keyphrases × {pool['items']} items; "
              f"{pool['pool_to_judged']}× the {pool['judged_pairs']} judged pairs), "
              f"{pool['pairs_per_s']} pairs/s on {pool['device']}; by source {pool['by_source']}.",
              "", "## Throughput", "", "| trainer | task | examples/s | seconds |", "|---|---|---|---|"]
    for variant in ("click_only", "one_step", "distilled"):
        train = report["students"].get(variant, {}).get("train", {})
        for seed, t in train.items():
            lines.append(f"| ours, {variant}, seed {seed} | {'+'.join(t['examples'])} | "
                         f"{t['examples_per_s']} | {t['seconds']} |")
            break
    anchor = report.get("anchor")
    if anchor:
        lines.append(f"| {anchor.get('trainer', 'anchor')} | clicks | "
                     f"{anchor.get('examples_per_s', anchor.get('error'))} | "
                     f"{anchor.get('seconds', '')} |")
    (out / "training.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
