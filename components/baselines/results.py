"""Results files that people compare: ``quality.json`` (merged by model key) and ``quality.md``."""

from __future__ import annotations

import json
import math
from pathlib import Path

from components.contracts import write_text_atomic

COLUMNS = ["ndcg@10", "recall@10", "precision@10", "mrr", "irrelevant_rate@10"]


def merge_results(path: Path, models: dict, meta: dict | None = None) -> dict:
    """Add or replace model keys in a results JSON, keeping everyone else's keys."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("models", {}).update(models)
    if meta:
        data.setdefault("meta", {}).update(meta)
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")
    return data


def _fmt(v) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def markdown_table(models: dict, split: str) -> str:
    lines = [f"| model ({split} queries) | " + " | ".join(COLUMNS)
             + " | judged recs | queries |",
             "|---|" + "---|" * (len(COLUMNS) + 2)]
    for key, entry in models.items():
        row = entry.get(split)
        if not row:
            continue
        lines.append(f"| {key} | " + " | ".join(_fmt(row.get(c)) for c in COLUMNS)
                     + f" | {row.get('judged_recommendations', '')} | {row.get('queries', '')} |")
    return "\n".join(lines)


def write_markdown(path: Path, data: dict, title: str = "Offline quality") -> str:
    models = data.get("models", {})
    parts = [f"# {title}", "",
             "Human ESCI labels; gains E 1.0 / S 0.1 / C 0.01 / I 0; relevant = E or S; "
             "irrelevant_rate@10 = share of an item's top-10 keyphrases (whole universe) that "
             "humans judged I, among judged pairs ('judged recs' of them). Written by the command "
             "in each row.", ""]
    for split in ("test", "all"):
        parts += [markdown_table(models, split), ""]
    if data.get("cv"):
        parts += [cv_markdown(data["cv"]), ""]
    parts += ["| model | command |", "|---|---|"]
    parts += [f"| {k} | `{v.get('command', '')}` |" for k, v in models.items()]
    meta = data.get("meta")
    if meta:
        parts += ["", "```json", json.dumps(meta, indent=2, sort_keys=True), "```"]
    text = "\n".join(parts) + "\n"
    write_text_atomic(Path(path), text)
    return text


CV_COLUMNS = ["ndcg@10", "recall@10", "precision@10", "mrr"]


def cv_markdown(cv: dict) -> str:
    """The cross-validated table (``cv`` of quality.json, written by ``python -m bench.cv``)."""
    lines = [f"## Cross-validated: {cv['folds']} folds by query, all {cv['queries']} queries",
             "", f"Each query scored by the models of the fold that held it out; students over "
             f"seeds {cv['seeds']} (mean per query, then over queries; ± = std of the seeds' "
             f"means). Command: `{cv.get('command', '')}` ({cv.get('hardware', '')}).", "",
             "| model (all queries, CV) | " + " | ".join(CV_COLUMNS) + " | seeds |",
             "|---|" + "---|" * (len(CV_COLUMNS) + 1)]
    for name, row in cv["models"].items():
        spread = f" ± {row['seed_std']:.4f}" if row.get("seeds", 1) > 1 else ""
        earlier = f" (from `{Path(row['from']).name}`)" if row.get("from") else ""
        lines.append(f"| {name}{earlier} | {_fmt(row.get('ndcg@10'))}{spread} | "
                     + " | ".join(_fmt(row.get(c)) for c in CV_COLUMNS[1:])
                     + f" | {row.get('seeds', '')} |")
    if cv.get("baseline"):
        lines += ["", f"Rows marked *from* were not trained again in this round: their per-query "
                      f"results are the earlier round's ({', '.join(cv['baseline']['variants'])};"
                      " same folds, seeds and student config), paired here with this round's."]
    lines += ["", "| paired difference of nDCG@10 (bootstrap over queries) | mean | 95% interval "
              "| p |", "|---|---|---|---|"]
    for name, p in cv.get("paired", {}).items():
        lines.append(f"| {name.replace('_minus_', ' − ')} | {p['mean']:+.4f} | "
                     f"[{p['ci_low']:+.4f}, {p['ci_high']:+.4f}] | {p['p_value_two_sided']:.3f} |")
    return "\n".join(lines)
