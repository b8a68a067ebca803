"""docs/results/judge.json (merged, keyed by judge model) and its readable table judge.md."""

from __future__ import annotations

import json
from pathlib import Path

from components.contracts import write_text_atomic
from components.judge.rubric import PROMPT_VERSION


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
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
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
    if data.get("judge_1.5b"):
        lines += ["", *judge_15b_markdown(data["judge_1.5b"])]
    if data.get("dimensions"):
        lines += ["", *dimensions_markdown(data["dimensions"])]
    if data.get("default_model"):
        lines += ["", f"Default judge: **{data['default_model']}**. {data.get('default_reason', '')}"]
    text = "\n".join(lines) + "\n"
    write_text_atomic(path, text)
    return text


def judge_15b_markdown(j: dict) -> list[str]:
    """The GPU judge of the cross-validated benchmark: prompts per split, throughput."""
    t = j["throughput_h200"]
    lines = [f"## {j['model']} on the GPU (all {j['prompts'][j['chosen_prompt']]['all']['pairs']} "
             "judged ESCI pairs)", "",
             f"Chosen prompt: **{j['chosen_prompt']}** ({j['chosen_on']}). nDCG@10: the judge's "
             "P(relevant) ranking each query's judged products. Split roles are the seed-13 "
             f"split's. Command: `{j['command']}` ({j['hardware']}).", "",
             "| prompt | split | AUC E∪S vs C∪I | AUC E vs rest | AUC E vs I | nDCG@10 | "
             "mean P by grade (E/S/C/I) |", "|---|---|---|---|---|---|---|"]
    for prompt, report in j["prompts"].items():
        for split in ("train", "validation", "test", "all"):
            r = report.get(split)
            if not r:
                continue
            means = "/".join(_f(r["mean_p_by_grade"].get(g), 2) for g in "ESCI")
            lines.append(f"| {prompt} | {split} | {_f(r['auc_es_vs_ci'])} | "
                         f"{_f(r['auc_e_vs_rest'])} | {_f(r['auc_e_vs_i'])} | "
                         f"{_f(r['ndcg@10'])} | {means} |")
    by_source = ", ".join(f"{s} {v['pairs']} (mean P {v['mean_p']:.2f})"
                          for s, v in t["by_source"].items())
    judged = t.get("judged_now", t["pairs"])
    lines += ["", f"Labels at scale: {t['pairs']} pairs over {t['keyphrases']} keyphrases "
              f"({t['unreadable']} unreadable); by source: {by_source}.", "",
              f"Throughput on the {t['device']} ({t['dtype']}, item-prefix sharing "
              f"{'on' if t['item_prefix'] else 'off'}, batch {t['batch_size']}): "
              f"**{t['pairs_per_s']:.1f} pairs/s** (measured on the {judged} pairs judged in "
              f"that run), {t['tokens_per_s']:.0f} computed tokens/s; "
              f"{t['tokens_per_pair']:.1f} prompt tokens a pair of which "
              f"{t['computed_tokens_per_pair']:.1f} run through the model (padded "
              f"{t['padded_tokens_per_pair']:.1f}); {t['flops_per_pair'] / 1e9:.0f} GFLOP a pair, "
              f"{t['achieved_tflops']:.1f} TFLOP/s achieved."]
    b = t.get("benchmark")
    if b:
        lines += ["", f"Benchmark, same card and settings ({b['workload']}; "
                  f"{b['distinct_items']} distinct items): **{b['pairs_per_s']:.1f} pairs/s**, "
                  f"{b['tokens_per_s']:.0f} computed tokens/s; {b['tokens_per_pair']:.1f} prompt "
                  f"tokens a pair of which {b['computed_tokens_per_pair']:.1f} run through the "
                  f"model (padded {b['padded_tokens_per_pair']:.1f}); "
                  f"{b['flops_per_pair'] / 1e9:.0f} GFLOP a pair, {b['achieved_tflops']:.1f} "
                  f"TFLOP/s achieved. P(relevant) differs from the stored labels by "
                  f"{b['mean_abs_diff_vs_stored']:.4f} on average (at most "
                  f"{b['max_abs_diff_vs_stored']:.3f}): bf16 batches composed differently."]
    return lines


def dimensions_markdown(entries: dict) -> list[str]:
    """The per-dimension judgments' summary rows (components/judge/dimensions_bench.py; the
    full tables and examples are in judge_dimensions.md)."""
    lines = ["## Per-dimension judgments (type, brand, size, colour, model, material, audience, "
             "quantity)", "",
             "Each pair's dimension questions (components/judge/dimensions.py) against the human "
             "grades: AUC on validation + test pairs of the single question's P(relevant) and "
             "of a logistic combination of the dimensions' P(yes), P(no) fitted on train-query "
             "pairs; the share of E and of I pairs whose type and brand both match. Tables and "
             "examples: `judge_dimensions.md`.", "",
             "| judge @ dimensions | what | pairs (fit/eval) | AUC single | AUC dimensions | "
             "AUC both | type+brand match E / I | hardware | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, e in entries.items():
        c, m = e["combination"], e["type_and_brand_match_by_grade"]
        lines.append(f"| {name} | {e['what']} | {c['n_fit']}/{c['n_eval']} | "
                     f"{_f(c.get('auc_single_question'))} | "
                     f"{_f(c.get('auc_dimensions_logistic'))} | "
                     f"{_f(c.get('auc_dimensions_plus_single_logistic'))} | "
                     f"{_f(m['E']['share'], 2)} / {_f(m['I']['share'], 2)} | {e['hardware']} | "
                     f"`{e['command']}` |")
    return lines
