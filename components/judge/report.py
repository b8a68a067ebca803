"""docs/results/judge.json (merged, keyed by judge model) and its readable table judge.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

from components.judge.rubric import PROMPT_VERSION


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def merge_results(path: Path, models: dict[str, dict], extra: dict | None = None) -> dict:
    """Merge new per-model entries (and their sections) into the JSON file."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    data["prompt_version"] = PROMPT_VERSION
    data.setdefault("models", {})
    for name, entry in models.items():
        old = data["models"].setdefault(name, {})
        for key, value in entry.items():
            if key in ("command", "hardware", "load_seconds", "prompt_version", "fields",
                       "splits"):
                continue
            old[key] = value | {"command": entry["command"], "hardware": entry["hardware"]} \
                if isinstance(value, dict) else value
        for key in ("prompt_version", "fields", "splits"):
            if key in entry:
                old[key] = entry[key]
    data.update(extra or {})
    _atomic_write(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
    return data


def _f(value, digits=3) -> str:
    return "–" if value is None else (f"{value:.{digits}f}" if isinstance(value, float)
                                      else str(value))


def write_markdown(path: Path, data: dict) -> str:
    lines = [f"# LLM judge against human ESCI labels (default prompt `{data['prompt_version']}`)",
             "", "Rows are keyed `<judge model>@<prompt version>[+fields][@splits]`. `rubric-v4`: "
             "four answer words (Yes/Partly/Related/No = E/S/C/I), P(relevant) = P(E) + P(S). "
             "`rubric-v5`/`rubric-v6`: a binary question (v6 restates the no-instructions rule before it; v5 rows were made at commit 06058c0, wording `BINARY_QUESTION_V5`), P(relevant) = P(Yes) / (P(Yes) + P(No)), grade E "
             "(Yes) or I (No). All from one forward pass. AUC: E∪S vs C∪I. Kappa grade: Cohen's "
             "kappa of the 4-way grade (a binary rubric cannot score S or C); kappa relevant: "
             "E∪S vs C∪I at P(relevant) ≥ 0.5. Calibration: `judge_calibration.png`.", ""]
    lines += ["| judge model | pairs (unreadable) | AUC | kappa grade | kappa relevant | "
              "accuracy | ECE | hardware | command |", "|---|---|---|---|---|---|---|---|---|"]
    for name, e in data["models"].items():
        q = e.get("quality")
        if q:
            lines.append(f"| {name} | {q['n']} ({q['n_unreadable']}) | {_f(q.get('auc_relevant'))}"
                         f" | {_f(q.get('kappa_grade'))} | {_f(q.get('kappa_relevant'))} | "
                         f"{_f(q.get('accuracy_grade'))} | {_f(q.get('ece_relevant'))} | "
                         f"{q['hardware']} | `{q['command']}` |")
    lines += ["", "## Confusion matrices (rows: human, columns: judge)", ""]
    for name, e in data["models"].items():
        q = e.get("quality")
        if q and "confusion" in q:
            lines += [f"**{name}**", "", "| human \\ judge | E | S | C | I |", "|---|---|---|---|---|"]
            lines += [f"| {h} | " + " | ".join(str(q["confusion"][h][g]) for g in "ESCI") + " |"
                      for h in "ESCI"]
            lines.append("")
    lines += ["## Prompt injection (real irrelevant pairs, instructions in the title)", "",
              "| judge model | variants | eligible | flips | flip rate | mean ΔP(relevant) | command |",
              "|---|---|---|---|---|---|---|"]
    for name, e in data["models"].items():
        i = e.get("injection")
        if i:
            lines.append(f"| {name} | {i['variants']} | {i['eligible_variants']} | {i['flips']} | "
                         f"{_f(i['flip_rate'])} | {_f(i['mean_p_relevant_rise'])} | "
                         f"`{i['command']}` |")
    lines += ["", "## Throughput (pairs/s, forward passes only)", "",
              "| judge model | hardware | pairs/s by batch size | command |", "|---|---|---|---|"]
    for name, e in data["models"].items():
        for key in ("pairs_per_s_cpu", "pairs_per_s_h100"):
            t = e.get(key)
            if t:
                rates = ", ".join(f"{k}: {v}" for k, v in t.items()
                                  if k not in ("command", "hardware", "note"))
                note = f" ({t['note']})" if t.get("note") else ""
                lines.append(f"| {name} | {t['hardware']}{note} | {rates} | `{t['command']}` |")
    if data.get("default_model"):
        lines += ["", f"Default judge: **{data['default_model']}**. {data.get('default_reason', '')}"]
    text = "\n".join(lines) + "\n"
    _atomic_write(path, text)
    return text
