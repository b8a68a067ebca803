"""Results files that people compare: ``quality.json`` (merged by model key) and ``quality.md``."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

COLUMNS = ["ndcg@10", "recall@10", "precision@10", "mrr", "irrelevant_rate@10"]


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def merge_results(path: Path, models: dict, meta: dict | None = None) -> dict:
    """Add or replace model keys in a results JSON, keeping everyone else's keys."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("models", {}).update(models)
    if meta:
        data.setdefault("meta", {}).update(meta)
    _atomic_write(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")
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
    parts += ["| model | command |", "|---|---|"]
    parts += [f"| {k} | `{v.get('command', '')}` |" for k, v in models.items()]
    meta = data.get("meta")
    if meta:
        parts += ["", "```json", json.dumps(meta, indent=2, sort_keys=True), "```"]
    text = "\n".join(parts) + "\n"
    _atomic_write(Path(path), text)
    return text
